-- The gateway schema; channels and model aliases arrive with the relay.
CREATE SCHEMA IF NOT EXISTS gateway;

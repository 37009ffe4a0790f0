-- The usage schema; usage records and daily aggregates arrive with metering.
CREATE SCHEMA IF NOT EXISTS usage;

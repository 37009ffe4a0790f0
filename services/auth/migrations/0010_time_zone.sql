-- The account's time zone (an IANA name such as 'Asia/Shanghai'), set by
-- `PATCH /api/me` `{"time_zone"}`: the console cuts days at the user's local
-- midnight with it (overview, usage log). NULL: not chosen; the console then
-- uses the browser's zone, else UTC. The name is checked by the API against
-- the IANA database (shared/time_zones.py), not here: the database's list
-- grows with tzdata releases.
ALTER TABLE auth.users
    ADD COLUMN time_zone text CHECK (length(time_zone) BETWEEN 1 AND 64);

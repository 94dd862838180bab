-- Search (issue 19): a full-text index of messages, computed by PostgreSQL from the body
-- in the statement that writes it (a generated column), so an edit re-indexes it too.
--
-- Words as SQLite's FTS5 'unicode61 remove_diacritics 2' makes them, as far as PostgreSQL
-- allows: unaccent folds diacritics, ASCII punctuation separates words (PostgreSQL's
-- parser would otherwise keep 'example.com', 'e-mail' or '-5' whole), and the 'simple'
-- configuration lower-cases without stemming or stop words, in any language.
--
-- unaccent is a trusted extension (PostgreSQL 13 and later): the database's owner may
-- create it; see docs/deploy.md. Its function is STABLE (it reads a dictionary), so it is
-- wrapped in an IMMUTABLE one, naming the dictionary by schema, for the generated column.

CREATE EXTENSION IF NOT EXISTS unaccent WITH SCHEMA public;

CREATE FUNCTION knock_search_text(body TEXT) RETURNS TEXT
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN pg_catalog.translate(
        public.unaccent('public.unaccent'::regdictionary, body),
        '!"#$%&''()*+,-./:;<=>?@[\]^_`{|}~',
        '                                ');

-- id numbers messages in the order they were stored (the order of a search across
-- rooms); rows already stored are numbered as they lie in the table. One rewrite of the
-- table for both columns.
ALTER TABLE messages
    ADD COLUMN id BIGINT GENERATED ALWAYS AS IDENTITY,
    ADD COLUMN search_vector TSVECTOR GENERATED ALWAYS AS
        (pg_catalog.to_tsvector('pg_catalog.simple'::regconfig, knock_search_text(body)))
        STORED;

CREATE INDEX messages_search_vector ON messages USING gin (search_vector);

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

-- id numbers messages in the order they were stored: the order of a search across rooms,
-- and within a room the order of seq (a search of a few rooms walks each room by seq).
-- Rows already stored are numbered by time, each room's in seq order.
ALTER TABLE messages ADD COLUMN id BIGINT;
UPDATE messages AS m SET id = numbered.id
    FROM (SELECT room_id, seq, row_number() OVER (ORDER BY arrived, room_id, seq) AS id
          FROM (SELECT room_id, seq,
                       max(timestamp) OVER (PARTITION BY room_id ORDER BY seq) AS arrived
                FROM messages) AS arrivals) AS numbered
    WHERE m.room_id = numbered.room_id AND m.seq = numbered.seq;
ALTER TABLE messages
    ALTER COLUMN id SET NOT NULL,
    ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY;
SELECT setval(pg_get_serial_sequence('messages', 'id'), COALESCE(max(id), 0) + 1, false)
    FROM messages;
CREATE UNIQUE INDEX messages_id ON messages (id);

ALTER TABLE messages ADD COLUMN search_vector TSVECTOR GENERATED ALWAYS AS
    (pg_catalog.to_tsvector('pg_catalog.simple'::regconfig, knock_search_text(body))) STORED;
CREATE INDEX messages_search_vector ON messages USING gin (search_vector);

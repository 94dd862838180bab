#!/usr/bin/env python3
"""Fills a migrated Knock database with years of chat, for the search benchmark.

Millions of messages of varied text in thousands of rooms, written straight into the
tables (not through the server): words drawn from a 50,000-word vocabulary with a
Zipf-like law (a few words in most messages, most words in a handful), some with
accents, messages of 3 to 20 words with punctuation, each room's seqs gapless from 1
and its last_seq set, timestamps spread over three years. The same seed gives the same
text on both engines. The users named by --few and --many must exist already (the
script registers them through the server, so they can sign in): they are made approved
members of --few-rooms and --many-rooms rooms.

    bench_search_fill.py --engine sqlite --db /tmp/knock.db
    bench_search_fill.py --engine postgres --db postgres://root@127.0.0.1:5432/knock_bench

Prints the rare words, a common word and a phrase to search for, as shell variables.
"""

import argparse
import math
import random
import subprocess
import sys
import time
import uuid

SYLLABLES = ["ka", "lo", "mi", "ne", "ru", "ti", "sa", "po", "de", "gu",
             "fe", "ba", "zo", "ho", "ve", "ma", "no", "ri", "lu", "te"]
ACCENTED = {"e": "é", "a": "à", "o": "ô", "u": "ü"}
VOCABULARY = 50_000
YEARS_MS = 3 * 365 * 24 * 3600 * 1000


def word(rank):
    """The word of this rank (1 is the most common): syllables spelling the rank, one in
    seven with an accent."""
    parts = []
    n = rank
    while True:
        parts.append(SYLLABLES[n % len(SYLLABLES)])
        n //= len(SYLLABLES)
        if n == 0:
            break
    text = "".join(parts)
    if rank % 7 == 3:
        for plain, accented in ACCENTED.items():
            if plain in text:
                text = text.replace(plain, accented, 1)
                break
    return text


def rank(rng):
    """A rank with probability about 1 / (rank * ln VOCABULARY)."""
    return min(VOCABULARY, int(math.exp(rng.random() * math.log(VOCABULARY))))


def message(rng, words):
    count = rng.randint(3, 20)
    picked = [words[rank(rng)] for _ in range(count)]
    if rng.random() < 0.5:
        picked[0] = picked[0].capitalize()
    text = " ".join(picked)
    if rng.random() < 0.3:
        cut = rng.randrange(1, count)
        head = " ".join(picked[:cut])
        text = head + ", " + text[len(head) + 1:]
    return text + rng.choice([".", "", "?", "!", " :)", "..."])


def generate(args):
    rng = random.Random(args.seed)
    words = [None] + [word(r) for r in range(1, VOCABULARY + 1)]
    users = [f"bench_u{i:05}" for i in range(args.users)]
    rooms = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(args.rooms)]
    members = [rng.sample(users, 20) for _ in rooms]
    start = int(time.time() * 1000) - YEARS_MS
    last_seq = [0] * len(rooms)

    def messages():
        for i in range(args.messages):
            r = rng.randrange(len(rooms))
            last_seq[r] += 1
            yield (rooms[r], last_seq[r], str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                   rng.choice(members[r]), message(rng, words), start + i * YEARS_MS // args.messages)

    memberships = []
    for r, room in enumerate(rooms):
        for position, user in enumerate(members[r]):
            memberships.append((room, user, "approved", position == 0, start, start))
    for name, count in ((args.few, args.few_rooms), (args.many, args.many_rooms)):
        for room in rooms[:count]:
            memberships.append((room, name, "approved", False, start, start))
    return users, rooms, members, memberships, messages, last_seq, words


def fill_sqlite(args, data):
    import sqlite3
    users, rooms, members, memberships, messages, last_seq, _ = data
    db = sqlite3.connect(args.db)
    db.execute("PRAGMA synchronous = OFF")
    with db:
        db.executemany("INSERT INTO users (user_id, password_hash, created_at) VALUES (?, '!', 0)",
                       ((u,) for u in users))
        db.executemany("INSERT INTO rooms (room_id, room_name, admin_user_id, created_at, last_seq) "
                       "VALUES (?, ?, ?, 0, 0)",
                       ((room, f"Room {i}", members[i][0]) for i, room in enumerate(rooms)))
        db.executemany("INSERT INTO memberships (room_id, user_id, status, is_admin, requested_at, "
                       "updated_at) VALUES (?, ?, ?, ?, ?, ?)", memberships)
    began = time.time()
    with db:
        db.executemany("INSERT INTO messages (room_id, seq, message_id, user_id, body, timestamp) "
                       "VALUES (?, ?, ?, ?, ?, ?)", messages())
        db.executemany("UPDATE rooms SET last_seq = ? WHERE room_id = ?",
                       ((last_seq[i], room) for i, room in enumerate(rooms)))
    print(f"# messages written in {time.time() - began:.0f} s", file=sys.stderr)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()


def copy(url, table, columns, rows):
    process = subprocess.Popen(
        ["psql", "-q", "-v", "ON_ERROR_STOP=1", url, "-c",
         f"COPY {table} ({', '.join(columns)}) FROM STDIN"],
        stdin=subprocess.PIPE, text=True)
    for row in rows:
        process.stdin.write("\t".join("t" if v is True else "f" if v is False else str(v)
                                      for v in row) + "\n")
    process.stdin.close()
    if process.wait() != 0:
        sys.exit(f"COPY {table} failed")


def psql(url, sql):
    subprocess.run(["psql", "-q", "-v", "ON_ERROR_STOP=1", url, "-c", sql], check=True)


def fill_postgres(args, data):
    users, rooms, members, memberships, messages, last_seq, _ = data
    copy(args.db, "users", ["user_id", "password_hash", "created_at"], ((u, "!", 0) for u in users))
    copy(args.db, "rooms", ["room_id", "room_name", "admin_user_id", "created_at", "last_seq"],
         ((room, f"Room {i}", members[i][0], 0, 0) for i, room in enumerate(rooms)))
    copy(args.db, "memberships",
         ["room_id", "user_id", "status", "is_admin", "requested_at", "updated_at"], memberships)
    has_index = subprocess.run(
        ["psql", "-tA", args.db, "-c",
         "SELECT count(*) FROM pg_indexes WHERE indexname = 'messages_search_vector'"],
        check=True, capture_output=True, text=True).stdout.strip() == "1"
    if has_index:
        # Built once at the end, as a migration on a full table builds it.
        psql(args.db, "DROP INDEX messages_search_vector")
    began = time.time()
    copy(args.db, "messages", ["room_id", "seq", "message_id", "user_id", "body", "timestamp"],
         messages())
    print(f"# messages written in {time.time() - began:.0f} s", file=sys.stderr)
    if has_index:
        began = time.time()
        psql(args.db, "CREATE INDEX messages_search_vector ON messages USING gin (search_vector)")
        print(f"# GIN index built in {time.time() - began:.0f} s", file=sys.stderr)
    values = ",".join(f"('{room}', {last_seq[i]})" for i, room in enumerate(rooms))
    psql(args.db, f"UPDATE rooms SET last_seq = v.s FROM (VALUES {values}) AS v(r, s) "
                  "WHERE rooms.room_id = v.r")
    psql(args.db, "VACUUM ANALYZE")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engine", choices=["sqlite", "postgres"], required=True)
    parser.add_argument("--db", required=True, help="SQLite file, or PostgreSQL URL")
    parser.add_argument("--messages", type=int, default=2_000_000)
    parser.add_argument("--rooms", type=int, default=2_000)
    parser.add_argument("--users", type=int, default=5_000)
    parser.add_argument("--few", default="bench_few")
    parser.add_argument("--many", default="bench_many")
    parser.add_argument("--few-rooms", type=int, default=20)
    parser.add_argument("--many-rooms", type=int, default=1_000)
    parser.add_argument("--seed", type=int, default=19)
    args = parser.parse_args()
    data = generate(args)
    if args.engine == "sqlite":
        fill_sqlite(args, data)
    else:
        fill_postgres(args, data)
    words = data[6]
    print(f"RARE='{','.join(words[r] for r in range(30_000, 30_010))}'")
    print(f"COMMON='{words[2]},{words[3]}'")
    print(f"PHRASE='{words[1]} {words[2]},{words[2]} {words[3]}'")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""What an operator would script instead of pullrecon: DuckDB (from PyPI) over the same NDJSON
logs, doing the core of the same checks in SQL:

  * the run window (as-of, lookback) and identical duplicate lines;
  * delivery: each notification's send and accepted receipt, its group order (authoredOn, send
    time, identifier), and notification-undelivered / notification-lost / update-missed after grace;
  * expected requests from the Task inputs (valueReference reads, request-shaped valueStrings,
    `Task/<basedOn>` when get-workflow-task is true) and from the inputs of Workflow Task bodies
    returned by successful get-workflow-task pulls, normalised (base stripped, percent-decoded);
  * pull outcomes: attempts and successes per (notification, request), and pull-failed /
    pull-missing / pull-expired for current, uncancelled notifications.

Usage: duckdb_checks.py --data DIR --as-of TS [--grace-seconds 900] [--lookback-seconds 2592000]
                        [--threads 2] [--json OUT]
Prints the counts per category as JSON.
"""

import argparse
import json
import sys
import time

import duckdb

COLUMNS = (
    "{ts: 'VARCHAR', interaction: 'VARCHAR', status: 'INTEGER', task: 'JSON', "
    "notification: 'VARCHAR', request: 'VARCHAR', body: 'JSON', sender_base: 'VARCHAR'}"
)

SQL = r"""
-- Request normalisation: strip an absolute URL's base (scheme, host and the path segments before
-- the first one that starts with an upper-case letter), a leading '/', then percent-decode.
CREATE MACRO norm(r) AS url_decode(ltrim(regexp_replace(trim(r), '^[hH][tT][tT][pP][sS]?://[^/]+/(([^A-Z/][^/]*)?/)*', ''), '/'));
CREATE MACRO ok(s) AS s BETWEEN 200 AND 299;

CREATE TEMP TABLE ev AS
SELECT DISTINCT * FROM (
    SELECT 'sent' AS side, * FROM read_json('{data}/sent/*.ndjson', format = 'newline_delimited',
        columns = {columns}, ignore_errors = true)
    UNION ALL
    SELECT 'received' AS side, * FROM read_json('{data}/received/*.ndjson', format = 'newline_delimited',
        columns = {columns}, ignore_errors = true)
) WHERE try_cast(ts AS TIMESTAMPTZ) BETWEEN TIMESTAMPTZ '{as_of}' - INTERVAL {lookback} SECOND
                                        AND TIMESTAMPTZ '{as_of}';

CREATE TEMP TABLE notify AS
SELECT side, ts::TIMESTAMPTZ AS ts, status, sender_base,
       coalesce(task->>'$.identifier[0].system', task->>'$.identifier.system') || '|' ||
       coalesce(task->>'$.identifier[0].value', task->>'$.identifier.value') AS id,
       coalesce(task->>'$.groupIdentifier.system', task->>'$.groupIdentifier[0].system') || '|' ||
       coalesce(task->>'$.groupIdentifier.value', task->>'$.groupIdentifier[0].value') AS grp,
       try_cast(task->>'$.authoredOn' AS TIMESTAMPTZ) AS authored,
       coalesce(try_cast(task->>'$.restriction.period.end' AS TIMESTAMPTZ),
                try_cast(task->>'$.restriction.period.end' AS DATE) + INTERVAL 1 DAY) AS expires,
       task->>'$.basedOn[0].reference' AS based_on,
       task->'$.input' AS inputs
FROM ev WHERE interaction = 'notify';

-- One row per notification: the Task of its first sent notify (else first received one).
CREATE TEMP TABLE n AS
SELECT id,
       arg_min(grp, (side <> 'sent', ts)) AS grp,
       arg_min(authored, (side <> 'sent', ts)) AS authored,
       arg_min(expires, (side <> 'sent', ts)) AS expires,
       arg_min(based_on, (side <> 'sent', ts)) AS based_on,
       arg_min(inputs, (side <> 'sent', ts)) AS inputs,
       min(ts) FILTER (WHERE side = 'sent') AS sent_at,
       min(ts) FILTER (WHERE side = 'received') AS first_received,
       bool_or(side = 'sent' AND ok(status)) AS sent_2xx,
       min(ts) FILTER (WHERE side = 'received' AND (status IS NULL OR ok(status))) AS receipt
FROM notify WHERE id IS NOT NULL GROUP BY id;

CREATE TEMP TABLE ordered AS
SELECT *,
       row_number() OVER w AS pos,
       count(*) OVER (PARTITION BY coalesce(grp, id)) AS size
FROM n
WINDOW w AS (PARTITION BY coalesce(grp, id)
             ORDER BY authored NULLS FIRST, coalesce(sent_at, first_received), id);

CREATE TEMP TABLE cancelled AS
SELECT coalesce(task->>'$.identifier[0].system', task->>'$.identifier.system') || '|' ||
       coalesce(task->>'$.identifier[0].value', task->>'$.identifier.value') AS id,
       min(ts::TIMESTAMPTZ) AS at
FROM ev WHERE interaction = 'cancel' GROUP BY 1;

CREATE TEMP TABLE pulls AS
SELECT notification AS id, norm(request) AS req, count(*) AS attempts,
       bool_or(ok(status)) AS succeeded
FROM ev WHERE side = 'received' AND interaction IN ('get-workflow-task', 'search', 'read')
GROUP BY 1, 2;

CREATE TEMP TABLE workflow AS
SELECT notification AS id, arg_min(body, ts::TIMESTAMPTZ)->'$.input' AS inputs
FROM ev WHERE side = 'received' AND interaction = 'get-workflow-task' AND ok(status)
          AND body IS NOT NULL
GROUP BY 1;

CREATE TEMP TABLE expected AS
WITH inputs AS (
    SELECT id, unnest(json_extract(inputs, '$[*]')) AS i FROM n
    UNION ALL
    SELECT id, unnest(json_extract(inputs, '$[*]')) AS i FROM workflow
)
SELECT DISTINCT id, norm(coalesce(i->>'$.valueReference.reference', i->>'$.valueString')) AS req
FROM inputs
WHERE i->>'$.valueReference.reference' IS NOT NULL
   OR (i->>'$.valueString' IS NOT NULL
       AND i->>'$.type.coding[0].code' NOT IN ('authorization-base', 'get-workflow-task')
       AND regexp_matches(i->>'$.valueString', '^(/|[hH][tT][tT][pP][sS]?://[^/]+/.*)?[A-Z][A-Za-z]+([/?].*)?$'))
UNION
SELECT id, 'Task/' || regexp_extract(based_on, 'Task/([^/?]+)', 1) FROM n
WHERE based_on IS NOT NULL
  AND list_contains(
        json_extract_string(inputs, '$[*].type.coding[0].code'), 'get-workflow-task');

CREATE TEMP TABLE outstanding AS
SELECT o.id, e.req, o.expires, o.receipt, p.attempts
FROM ordered o
JOIN expected e USING (id)
LEFT JOIN pulls p ON p.id = e.id AND p.req = e.req
LEFT JOIN cancelled c ON c.id = o.id
WHERE o.pos = o.size AND c.at IS NULL AND coalesce(p.succeeded, false) = false;
"""

COUNTS = r"""
SELECT 'notification-undelivered', count(*) FROM ordered
 WHERE sent_at IS NOT NULL AND receipt IS NULL AND sent_at <= {judged} AND pos = 1 AND NOT sent_2xx
UNION ALL SELECT 'notification-lost', count(*) FROM ordered
 WHERE sent_at IS NOT NULL AND receipt IS NULL AND sent_at <= {judged} AND pos = 1 AND sent_2xx
UNION ALL SELECT 'update-missed', count(*) FROM ordered
 WHERE sent_at IS NOT NULL AND receipt IS NULL AND sent_at <= {judged} AND pos > 1
UNION ALL SELECT 'pull-failed', count(*) FROM outstanding
 WHERE coalesce(expires >= TIMESTAMPTZ '{as_of}', true) AND attempts IS NOT NULL
UNION ALL SELECT 'pull-missing', count(*) FROM outstanding
 WHERE coalesce(expires >= TIMESTAMPTZ '{as_of}', true) AND attempts IS NULL AND receipt <= {judged}
UNION ALL SELECT 'pull-expired', count(*) FROM outstanding
 WHERE expires < TIMESTAMPTZ '{as_of}' AND (attempts IS NOT NULL OR receipt IS NOT NULL)
"""


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--as-of", required=True)
    ap.add_argument("--grace-seconds", type=int, default=900)
    ap.add_argument("--lookback-seconds", type=int, default=30 * 86400)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    t0 = time.monotonic()
    con = duckdb.connect()
    con.execute(f"SET threads = {a.threads}")
    con.execute("SET preserve_insertion_order = false")
    params = {
        "data": a.data,
        "columns": COLUMNS,
        "as_of": a.as_of,
        "lookback": a.lookback_seconds,
        "judged": f"TIMESTAMPTZ '{a.as_of}' - INTERVAL {a.grace_seconds} SECOND",
    }
    for stmt in SQL.split(";"):
        if stmt.strip():
            con.execute(stmt.format(**params))
    counts = {k: v for k, v in con.execute(COUNTS.format(**params)).fetchall()}
    result = {"counts": counts, "wall_s": round(time.monotonic() - t0, 3)}
    text = json.dumps(result, indent=2)
    if a.json:
        with open(a.json, "w") as f:
            f.write(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Runs ClickHouse statements in an embedded ClickHouse (chdb, the ClickHouse
engine as a Python module) for host-tests/tests/all/vector_config.rs and
logs_pipe.rs.

Reads one JSON document on stdin:
  {"ddl": ["path.sql", ...],                   # executed statement by statement
   "inserts": [{"table": "db.t", "settings": "k=v, ...", "rows": [{...}, ...]}],
   "queries": ["SELECT ...", {"sql": "SELECT ... {p:String}", "params": {"p": "v"}}, ...]}
and prints {"version": "...", "results": [[row, ...], ...]}, one list of rows
(objects, as JSONEachRow gives them) per query.
"""

import json
import sys
import tempfile

from chdb import session


def statements(sql):
    # The shipped DDL has no semicolons inside strings or comments.
    lines = [l for l in sql.splitlines() if not l.lstrip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


def rows(result):
    text = result.bytes().decode() if hasattr(result, "bytes") else str(result)
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def run(s, query):
    # A query is SQL, or {"sql", "params"} with ClickHouse query parameters
    # ({name:Type} placeholders), the way the dashboard passes the tenant.
    if isinstance(query, str):
        return rows(s.query(query, "JSONEachRow"))
    return rows(s.query(query["sql"], "JSONEachRow", params=query.get("params")))


def main():
    job = json.load(sys.stdin)
    with tempfile.TemporaryDirectory() as path:
        s = session.Session(path)
        for file in job.get("ddl", []):
            with open(file) as f:
                for stmt in statements(f.read()):
                    s.query(stmt)
        for insert in job.get("inserts", []):
            body = "\n".join(json.dumps(r) for r in insert["rows"])
            settings = insert.get("settings")
            prefix = f"INSERT INTO {insert['table']}"
            if settings:
                prefix += f" SETTINGS {settings}"
            s.query(f"{prefix} FORMAT JSONEachRow {body}")
        results = [run(s, q) for q in job.get("queries", [])]
        version = rows(s.query("SELECT version() AS v", "JSONEachRow"))[0]["v"]
    json.dump({"version": version, "results": results}, sys.stdout)


if __name__ == "__main__":
    main()

"""Open Parquet files with pyarrow and describe them: rows, column names and types (JSON)."""

import json
import sys

import pyarrow.parquet as pq

out = {}
for path in sys.argv[1:]:
    t = pq.read_table(path)
    out[path] = {
        "rows": t.num_rows,
        "columns": t.column_names,
        "types": {f.name: str(f.type) for f in t.schema},
        "first": {k: (str(v) if v is not None else None) for k, v in (t.slice(0, 1).to_pylist() or [{}])[0].items()},
    }
print(json.dumps(out))

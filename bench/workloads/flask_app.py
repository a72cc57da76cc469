"""A small Flask service for bench/gunicorn_throughput.py: each request
renders a template over a few dozen rows, serialises JSON, raises and
catches one exception in ten requests, and takes a lock, like a typical
handler that reads a cache and formats a reply."""
import json
import threading

from flask import Flask, render_template_string

app = Flask(__name__)
_cache_lock = threading.Lock()
_cache = {f"item-{i}": {"id": i, "price": i * 1.25, "tags": ["a", "b", str(i)]} for i in range(200)}
_counter = [0]

PAGE = """<ul>{% for row in rows %}<li id="{{ row.id }}">{{ row.name|e }}: {{ "%.2f"|format(row.price) }}
{% for t in row.tags %}<b>{{ t }}</b>{% endfor %}</li>{% endfor %}</ul>"""


def load_rows(start):
    with _cache_lock:
        _counter[0] += 1
        n = _counter[0]
    rows = []
    for i in range(start, start + 40):
        item = _cache[f"item-{i % 200}"]
        rows.append({"id": item["id"], "name": f"row {i}", "price": item["price"], "tags": item["tags"]})
    if n % 10 == 0:
        try:
            raise KeyError(f"item-{n}")
        except KeyError:
            pass
    return rows


@app.route("/")
def index():
    rows = load_rows(_counter[0] % 160)
    body = render_template_string(PAGE, rows=rows)
    return app.response_class(json.dumps({"html": body, "count": len(rows)}), mimetype="application/json")

# ruff: noqa: E501  (HTML reads better unwrapped)
"""The Jinja2 template of the HTML report (kept in Python so no package data is needed)."""

TEMPLATE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Insights{% if insights.target %}: target {{ insights.target.column }}{% endif %}</title>
<style>
body { font: 14px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 1100px;
       color: #1d2330; padding: 0 1rem; }
h1, h2, h3 { font-weight: 600; } h2 { border-bottom: 1px solid #dde; padding-bottom: .2rem; }
table { border-collapse: collapse; } td, th { padding: 2px 8px; text-align: left; }
.kv td:first-child { color: #5a6275; } .num { text-align: right; font-variant-numeric: tabular-nums; }
.card { border: 1px solid #e3e6ee; border-radius: 6px; padding: .6rem 1rem; margin: 1rem 0; }
.tag { display: inline-block; background: #eef1f8; border-radius: 4px; padding: 0 6px;
       font-size: 12px; margin-left: 6px; }
.warn { border-left: 4px solid #e0a100; background: #fff8e6; padding: .3rem .6rem; margin: .3rem 0; }
.warn b { font-family: ui-monospace, monospace; font-size: 12px; }
.bar { background: #4c78a8; height: 10px; display: inline-block; vertical-align: middle; }
.cols { display: flex; gap: 2rem; flex-wrap: wrap; } .muted { color: #6b7285; font-size: 12px; }
.heat td { width: 34px; height: 22px; font-size: 11px; text-align: center; }
.heat th { font-size: 11px; font-weight: normal; }
.heat thead th { writing-mode: vertical-rl; transform: rotate(180deg); height: 90px; }
</style>
</head>
<body>
{% set t = insights.table %}
<h1>Dataset insights</h1>
<table class="kv">
<tr><td>rows</td><td class="num">{{ num(t.n_rows) }}</td></tr>
<tr><td>columns</td><td class="num">{{ num(t.n_columns) }}</td></tr>
<tr><td>memory</td><td class="num">{{ num(t.memory_bytes / 1048576) }} MiB</td></tr>
<tr><td>duplicate rows</td><td class="num">{{ num(t.duplicate_rows) }} ({{ pct(t.duplicate_rows_share) }})</td></tr>
<tr><td>missing cells</td><td class="num">{{ num(t.missing_cells) }} ({{ pct(t.missing_cells_share) }})</td></tr>
<tr><td>rows with a missing value</td><td class="num">{{ num(t.rows_with_missing) }}</td></tr>
<tr><td>column types</td><td>{% for k, v in t.semantic_types.items() %}{{ k }}: {{ v }}{% if not loop.last %}, {% endif %}{% endfor %}</td></tr>
</table>
<p class="muted">{{ insights.sampling.note }}.</p>

<h2>Warnings ({{ insights.warnings | length }})</h2>
{% for w in insights.warnings %}
<div class="warn"><b>{{ w.kind }}</b> {{ w.message }}</div>
{% else %}
<p>Nothing to warn about.</p>
{% endfor %}

{% if insights.target %}
{% set g = insights.target %}
<h2>Target: {{ g.column }}</h2>
<p><b>{{ g.task or "no task" }}</b> — {{ g.reason }}.</p>
{% if g.class_balance %}
<h3>Class balance</h3>
<table>
{% for c in g.class_balance.classes %}
<tr><td>{{ c.value }}</td><td class="num">{{ num(c.count) }}</td><td class="num">{{ pct(c.share) }}</td>
<td><span class="bar" style="width: {{ (c.share * 300) | round(1) }}px"></span></td></tr>
{% endfor %}
</table>
{% if g.class_balance.n_classes_not_listed %}<p class="muted">and {{ g.class_balance.n_classes_not_listed }} more classes</p>{% endif %}
{% endif %}
{% if g.distribution and g.distribution.histogram %}
<h3>Distribution</h3>
<svg width="320" height="80" role="img">{% for b in bars(g.distribution.histogram) %}<rect x="{{ b.x }}" y="{{ b.y }}" width="{{ b.w }}" height="{{ b.h }}" fill="#4c78a8"><title>{{ b.title }}</title></rect>{% endfor %}</svg>
{% endif %}
{% if g.features %}
<h3>What each feature tells about the target</h3>
<p class="muted">Mutual information in bits (information gain of a split on the feature's bins), measured on {{ num(g.sample_rows) }} rows; "adjusted" is the share of the target's uncertainty explained beyond chance.</p>
<table>
<tr><th>#</th><th>feature</th><th class="num">bits</th><th class="num">adjusted</th><th></th></tr>
{% for f in g.features %}
<tr><td>{{ f.rank }}</td><td>{{ f.column }}</td><td class="num">{{ num(f.mutual_information) }}</td>
<td class="num">{{ pct(f.adjusted) }}</td>
<td><span class="bar" style="width: {{ ((f.adjusted or 0) * 300) | round(1) }}px"></span></td></tr>
{% endfor %}
</table>
{% for s in g.skipped %}<p class="muted">{{ s.column }} left out: {{ s.reason }}</p>{% endfor %}
{% endif %}
{% endif %}

{% set a = insights.associations %}
<h2>Associations</h2>
{% if a.columns | length > 1 %}
<p class="muted">Measured on {{ num(a.sample_rows) }} rows. {% for k, v in a.methods.items() %}{{ k }}: {{ v }}. {% endfor %}</p>
<table class="heat">
<thead><tr><th></th>{% for c in a.columns %}<th>{{ c }}</th>{% endfor %}</tr></thead>
{% for row in a.matrix %}
<tr><th>{{ a.columns[loop.index0] }}</th>{% for v in row %}<td style="background: {{ heat(v) }}" title="{{ num(v) }}">{{ "" if v is none else (v * 100) | round | int }}</td>{% endfor %}</tr>
{% endfor %}
</table>
<h3>Strongest pairs</h3>
<table>
{% for p in a.top_pairs[:15] %}
<tr><td>{{ p.columns[0] }} &ndash; {{ p.columns[1] }}</td><td>{{ p.method }}</td><td class="num">{{ num(p.value) }}</td></tr>
{% endfor %}
</table>
{% else %}
<p>Fewer than two columns can be compared.</p>
{% endif %}

<h2>Columns</h2>
{% for col in insights.columns %}
<div class="card" id="col-{{ loop.index }}">
<h3>{{ col.name }}<span class="tag">{{ col.semantic_type }}</span><span class="tag">{{ col.storage_type }}</span>{% if col.is_target %}<span class="tag">target</span>{% endif %}</h3>
<p class="muted">{{ col.evidence }}</p>
<div class="cols">
<table class="kv">{% for label, value in stats(col) %}<tr><td>{{ label }}</td><td class="num">{{ value }}</td></tr>{% endfor %}</table>
{% if col.histogram %}
<div><div class="muted">histogram of {{ col.histogram.of }}s</div>
<svg width="320" height="80" role="img">{% for b in bars(col.histogram) %}<rect x="{{ b.x }}" y="{{ b.y }}" width="{{ b.w }}" height="{{ b.h }}" fill="#4c78a8"><title>{{ b.title }}</title></rect>{% endfor %}</svg>
<div class="muted">{{ col.histogram.bin_edges[0] }} … {{ col.histogram.bin_edges[-1] }}</div></div>
{% endif %}
{% if col.top_values %}
<table><tr><th>top values</th><th class="num">count</th><th class="num">share</th></tr>
{% for v in col.top_values %}<tr><td>{{ v.value }}</td><td class="num">{{ num(v.count) }}</td><td class="num">{{ pct(v.share) }}</td></tr>{% endfor %}
</table>
{% endif %}
{% if col.text and col.text.top_tokens %}
<table><tr><th>top words</th><th class="num">count</th></tr>
{% for tok in col.text.top_tokens[:10] %}<tr><td>{{ tok.token }}</td><td class="num">{{ num(tok.count) }}</td></tr>{% endfor %}
</table>
{% endif %}
</div>
</div>
{% endfor %}
<p class="muted">mlharbor insights, format {{ insights.format_version }}.</p>
</body>
</html>
"""

#!/usr/bin/env bash
# Checks the monitoring files shipped with patchlag-exporter:
#
#   prometheus/alerts.yml, rules.yml      promtool check rules
#   prometheus/*_test.yml                 promtool test rules
#   prometheus/prometheus.yml             promtool check config
#   alertmanager/alertmanager.yml         amtool check-config, and where alerts are routed
#   grafana/patchlag.json                 valid JSON, datasource variable, no hard-coded
#                                         datasource uid, every target has an expr, and every
#                                         expr parses as PromQL (through promtool)
#   docs/alerts.md                        a runbook section for every alert, matching anchors
#
# Needs promtool and amtool (Debian/Ubuntu: apt-get install prometheus prometheus-alertmanager)
# and python3. Exits non-zero if any check fails; the last line counts passes and failures.
#
# Usage: scripts/check-rules.sh

set -u

cd "$(dirname "$0")/.." || exit 2

passed=0
failed=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# check NAME COMMAND...: runs COMMAND, prints "ok" or "FAIL" with its output.
check() {
    local name=$1
    shift
    if "$@" >"$tmp/out" 2>&1; then
        passed=$((passed + 1))
        echo "ok    $name"
    else
        failed=$((failed + 1))
        echo "FAIL  $name"
        sed 's/^/      /' "$tmp/out"
    fi
}

# route LABELS... RECEIVER: the Alertmanager configuration sends LABELS to RECEIVER.
route() {
    local receiver=${*: -1}
    local labels=("${@:1:$#-1}")
    amtool config routes test --config.file=alertmanager/alertmanager.yml \
        --verify.receivers="$receiver" "${labels[@]}"
}

for tool in promtool amtool python3; do
    if ! command -v "$tool" >/dev/null; then
        echo "FAIL  $tool not found in PATH"
        failed=$((failed + 1))
    fi
done
if [ "$failed" -ne 0 ]; then
    echo "$passed passed, $failed failed"
    exit 1
fi

check "promtool check rules" \
    promtool check rules prometheus/alerts.yml prometheus/rules.yml
check "promtool test rules" \
    promtool test rules prometheus/alerts_test.yml prometheus/rules_test.yml
check "promtool check config" \
    promtool check config prometheus/prometheus.yml
check "amtool check-config" \
    amtool check-config alertmanager/alertmanager.yml

check "route: overdue pages the patch administrators" \
    route alertname=PatchContentOverdue severity=critical tier=english bulletin=2026-Nov patch-admins-page
check "route: overdue office365 pages the Office 365 administrators" \
    route alertname=PatchContentOverdue severity=critical tier=office365 bulletin=2026-Nov office365-admins-page
check "route: at risk goes to chat" \
    route alertname=PatchContentAtRisk severity=warning tier=english bulletin=2026-Nov patch-admins-chat
check "route: source problems become tickets" \
    route alertname=PatchlagSourceDown severity=warning source=msrc monitoring-tickets
check "route: exporter absence becomes a ticket" \
    route alertname=PatchlagExporterAbsent severity=warning job=patchlag monitoring-tickets

check "grafana/patchlag.json" python3 - grafana/patchlag.json "$tmp/dashboard_rules.yml" <<'EOF'
import json
import sys

path, rules_out = sys.argv[1], sys.argv[2]
DS = {"type": "prometheus", "uid": "${datasource}"}
errors = []

try:
    with open(path, encoding="utf-8") as f:
        dashboard = json.load(f)
except (OSError, ValueError) as e:
    sys.exit(f"{path}: not valid JSON: {e}")

variables = {v.get("name"): v for v in dashboard.get("templating", {}).get("list", [])}
ds_var = variables.get("datasource")
if not ds_var or ds_var.get("type") != "datasource" or ds_var.get("query") != "prometheus":
    errors.append("no template variable 'datasource' of type datasource with query prometheus")
tier_var = variables.get("tier")
tier_query = (tier_var or {}).get("query")
if isinstance(tier_query, dict):
    tier_query = tier_query.get("query")
if tier_query != "label_values(patchlag_goal_seconds, tier)":
    errors.append("template variable 'tier' does not query label_values(patchlag_goal_seconds, tier)")


def walk(node, where):
    """Every 'datasource' anywhere must be the variable, never a fixed uid."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "datasource" and where != "templating.datasource":
                if isinstance(value, dict):
                    if value.get("uid") != "${datasource}":
                        errors.append(f"{where}: hard-coded datasource {value}")
                elif isinstance(value, str) and value not in ("${datasource}", "$datasource"):
                    errors.append(f"{where}: hard-coded datasource {value!r}")
            walk(value, where)
    elif isinstance(node, list):
        for item in node:
            walk(item, where)


def panels(items):
    for p in items:
        yield p
        yield from panels(p.get("panels", []))


walk(dashboard.get("panels", []), "panels")
walk(dashboard.get("annotations", {}), "annotations")
for v in variables.values():
    if v.get("name") != "datasource":
        walk(v, f"templating.{v.get('name')}")

exprs = []
ids = set()
for p in panels(dashboard.get("panels", [])):
    title = p.get("title", "?")
    if p.get("id") in ids:
        errors.append(f"panel {title!r}: duplicate id {p.get('id')}")
    ids.add(p.get("id"))
    if p.get("datasource") != DS:
        errors.append(f"panel {title!r}: datasource is {p.get('datasource')}, not {DS}")
    if p.get("type") != "row" and not p.get("targets"):
        errors.append(f"panel {title!r}: no targets")
    for t in p.get("targets", []):
        expr = (t.get("expr") or "").strip()
        if not expr:
            errors.append(f"panel {title!r} target {t.get('refId')}: no expr")
            continue
        if t.get("datasource") not in (None, DS):
            errors.append(f"panel {title!r} target {t.get('refId')}: datasource {t.get('datasource')}")
        exprs.append((p.get("id"), t.get("refId"), expr))

# Every expr, with the tier variable as Grafana sends "All", as a recording rule: promtool
# check rules then parses each one as PromQL.
with open(rules_out, "w", encoding="utf-8") as f:
    f.write("groups:\n  - name: dashboard\n    rules:\n")
    for panel_id, ref, expr in exprs:
        f.write(f"      - record: dashboard:panel_{panel_id}_{ref}\n")
        f.write(f"        expr: {json.dumps(expr.replace('$tier', '.*'))}\n")

if errors:
    sys.exit("\n".join(errors))
print(f"{len(exprs)} expressions in {len(ids)} panels")
EOF
if [ -s "$tmp/dashboard_rules.yml" ]; then
    check "grafana/patchlag.json: every expr is valid PromQL" \
        promtool check rules "$tmp/dashboard_rules.yml"
fi

check "docs/alerts.md: a runbook for every alert" python3 - prometheus/alerts.yml docs/alerts.md <<'EOF'
import re
import sys

rules, docs = sys.argv[1], sys.argv[2]
text = open(rules, encoding="utf-8").read()
alerts = re.findall(r"^\s*- alert:\s*(\S+)\s*$", text, re.M)
runbooks = re.findall(r"^\s*runbook_url:\s*(\S+)\s*$", text, re.M)
headings = set(re.findall(r"^#+ Alert: (\S+)\s*$", open(docs, encoding="utf-8").read(), re.M))
errors = []
if not alerts or len(alerts) != len(runbooks):
    errors.append(f"{len(alerts)} alerts but {len(runbooks)} runbook_url annotations")
base = "https://github.com/patchlag/patchlag-exporter/blob/main/README.md#alert-"
for name, url in zip(alerts, runbooks):
    if url != base + name.lower():
        errors.append(f"{name}: runbook_url {url}, expected {base + name.lower()}")
    if name not in headings:
        errors.append(f"{name}: no '## Alert: {name}' section in {docs}")
for name in headings - set(alerts):
    errors.append(f"{docs}: section for unknown alert {name}")
if errors:
    sys.exit("\n".join(errors))
print(", ".join(alerts))
EOF

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]

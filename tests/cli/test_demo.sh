#!/usr/bin/env bash
# test_demo.sh BINARY TESTDATA - `mergeguard demo --quick` end to end on the
# tiny lab world (built into the cache on first use, as `make demo` does), and
# its report checked for structure and sane values: every row of Tables 1 and
# 2 present with rates in [0, 100], the claims 1-4 and 7 evaluated, the SVGs
# well-formed, a rerun resuming from the stage cache, and bad usage refused.
. "$(dirname "$0")/lib/testlib.sh"
BIN=$1

# Usage errors: exit 2, one line, nothing written.
"$BIN" demo --help | grep -q "usage: mergeguard demo"; check '[ $? -eq 0 ]'
"$BIN" demo --bogus -o "$TMP/x" 2>"$TMP/err"; check '[ $? -eq 2 ] && [ ! -e "$TMP/x" ]'
check 'grep -q "bogus" "$TMP/err"'
"$BIN" demo --seed -3 -o "$TMP/x" 2>/dev/null; check '[ $? -eq 2 ] && [ ! -e "$TMP/x" ]'
"$BIN" demo --world "$TMP/none" -o "$TMP/x" 2>"$TMP/err"; check '[ $? -eq 2 ] && [ ! -e "$TMP/x" ]'
check 'grep -q "lab build" "$TMP/err"'

OUT=$TMP/quick
start=$(date +%s)
"$BIN" demo --quick -o "$OUT" --threads 2 >"$TMP/stdout" 2>"$TMP/stderr"
rc=$?
echo "demo --quick: exit $rc in $(( $(date +%s) - start )) s"
if [ $rc -ne 0 ]; then
    tail -20 "$TMP/stderr"
    fail "demo --quick exited $rc"
    echo "tests: $pass passed, $fails failed"
    exit 1
fi
ok
for f in report.md report.json alignment_vs_accuracy.svg winner_weights.svg; do
    check "[ -s '$OUT/$f' ]"
done
check 'grep -q "^Table 1" "$TMP/stdout" && grep -q "^Table 2" "$TMP/stdout"'
check 'grep -q "demo \[" "$TMP/stderr"' # progress lines

python3 - "$OUT" <<'EOF'
import json, sys, math
import xml.dom.minidom as x
out = sys.argv[1]
r = json.load(open(out + "/report.json"))
errs = []
rows = {row["id"]: row for row in r["rows"]}
want = ["instruct", "bio-expert", "chem-expert"]
for m in ["ties", "dare_ties", "slerp"]:
    want += ["p2-%s-grid" % m, "p2-%s-evo-dexpert" % m, "p2-%s-evo-ours" % m]
want += ["p2-cocktail-dexpert", "p2-cocktail-ours", "p2-ties-evo-ours-alpha0",
         "p2-ties-evo-ours-alpha1"]
for m in ["ties", "dare_ties"]:
    want += ["p3-%s-grid" % m, "p3-%s-evo-dexpert" % m, "p3-%s-evo-ours" % m]
want += ["p3-cocktail-dexpert", "p3-cocktail-ours"]
for w in want:
    if w not in rows:
        errs.append("missing row " + w)
        continue
    for k in ["align", "align_guard", "align_refusal", "acc_bio", "acc_chem", "acc"]:
        v = rows[w].get(k)
        if not isinstance(v, (int, float)) or math.isnan(v) or not (0 <= v <= 100):
            errs.append("%s.%s = %r not in [0, 100]" % (w, k, v))
for w in want:
    if "-grid" in w and "selected" not in rows.get(w, {}):
        errs.append(w + ": no selected grid point")
    if "-evo-" in w and not rows.get(w, {}).get("weights"):
        errs.append(w + ": no winner genes")
    if "cocktail" in w and abs(sum(rows.get(w, {}).get("lambda", [0])) - 1) > 1e-6:
        errs.append(w + ": lambda does not sum to 1")
claims = {c["claim"]: c for c in r["claims"]}
if sorted(claims) != [1, 2, 3, 4, 7]:
    errs.append("claims %r" % sorted(claims))
for c in claims.values():
    if c["verdict"] not in ("held", "partly held", "did not hold", "held (rows missing)"):
        errs.append("claim %d: verdict %r" % (c["claim"], c["verdict"]))
    if not c["evidence"] or c["checks"] <= 0:
        errs.append("claim %d: no evidence" % c["claim"])
if r["data"]["source"] not in ("gen-data", "lab-fitness-records"):
    errs.append("data source %r" % r["data"]["source"])
if r["judge"]["primary"] not in ("guard", "refusal phrases"):
    errs.append("judge %r" % r["judge"])
md = open(out + "/report.md").read()
for s in ["## Table 1", "## Table 2", "### Claim 1", "### Claim 7", "paper LLaMA+OpenBioLLM",
          "| TIES | EvoMM (ours) | D_expert + D_safety |", "| - | LM-Cocktail (ours) |"]:
    if s not in md:
        errs.append("report.md lacks " + repr(s))
for f in ["alignment_vs_accuracy.svg", "winner_weights.svg"]:
    try:
        x.parse(out + "/" + f)
    except Exception as e:
        errs.append("%s: %s" % (f, e))
for e in errs:
    print("FAIL:", e)
sys.exit(1 if errs else 0)
EOF
check '[ $? -eq 0 ]'

# A rerun resumes from the stage cache: nothing is recomputed, same report.
cp "$OUT/report.json" "$TMP/first.json"
start=$(date +%s)
"$BIN" demo --quick -o "$OUT" --threads 2 >/dev/null 2>"$TMP/stderr2"
check '[ $? -eq 0 ]'
check 'grep -q "resuming" "$TMP/stderr2"'
check '[ $(( $(date +%s) - start )) -lt 60 ]'
python3 -c "
import json,sys
a=json.load(open('$TMP/first.json')); b=json.load(open('$OUT/report.json'))
sys.exit(0 if a['rows']==b['rows'] and a['claims']==b['claims'] else 1)"
check '[ $? -eq 0 ]'
# Other settings in the same folder are refused without --force.
"$BIN" demo --quick --seed 2 -o "$OUT" 2>"$TMP/err3"
check '[ $? -ne 0 ] && grep -q "force" "$TMP/err3"'

summary

#!/usr/bin/env bash
# Records real nvidia-smi output of real GPU work (workload.py) for the telemetry vectors:
#   packages/agent/test/telemetry/vectors/real-h200/ (see the README there).
# Usage (on a GPU host): scripts/gpu/capture.sh OUT_DIR [SECONDS_PER_MODEL] [BATCH]
set -u
out=${1:?OUT_DIR}; secs=${2:-75}; batch=${3:-1}
mkdir -p "$out"
{ nvidia-smi --version; nvidia-smi -L; } >"$out/tool.txt" 2>&1
nvidia-smi --help-query-gpu >"$out/help-query-gpu.txt" 2>&1
# The energy counter's field name differs between drivers: take the one this driver lists.
energy=$(grep -o '^"[a-z_.]*energy[a-z_.]*"' "$out/help-query-gpu.txt" | head -1 | tr -d '"')
echo "energy field: ${energy:-none}" >>"$out/tool.txt"
q=timestamp,index,uuid,name,power.draw${energy:+,$energy},utilization.gpu,utilization.memory,memory.used,clocks.sm,clocks.mem,temperature.gpu
# The collector's exact command (packages/agent/src/telemetry/collect/nvsmi.ts), for the whole run.
nvidia-smi --query-gpu=$q --format=csv,noheader,nounits -lms 100 >"$out/query-identity-noheader-nounits.csv" 2>>"$out/tool.txt" &
smi=$!
# The same query with header and units, a few seconds at idle.
timeout 3 nvidia-smi --query-gpu=$q --format=csv -lms 100 >"$out/query-identity-header-units.csv" 2>>"$out/tool.txt"
( sleep 40; nvidia-smi --query-compute-apps=pid,process_name,used_memory --format=csv >"$out/compute-apps-header.csv" 2>&1
  nvidia-smi --query-compute-apps=pid,process_name,used_memory --format=csv,noheader,nounits >>"$out/compute-apps-header.csv" 2>&1 ) &
apps=$!
python3 "$(dirname "$0")/workload.py" "$out/requests.jsonl" "$secs" "$batch" >"$out/marks.jsonl" 2>"$out/workload-stderr.txt"
echo "workload exit $?" >>"$out/tool.txt"
sleep 3
kill "$smi" "$apps" 2>/dev/null; wait 2>/dev/null
tail -c 4000 "$out/workload-stderr.txt" >"$out/workload-stderr-tail.txt"; rm -f "$out/workload-stderr.txt"
wc -l "$out"/* 

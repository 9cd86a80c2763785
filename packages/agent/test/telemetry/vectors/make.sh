#!/bin/sh
# Regenerates the telemetry test vectors (see README.md).
#  - proc-*.txt: captured from this machine's procfs (any Linux host).
#  - nvsmi-*.csv: on a host with an NVIDIA GPU and driver, run with CAPTURE_GPU=1.
#  - dcgm-exporter.prom: with dcgm-exporter listening on 127.0.0.1:9400, run with CAPTURE_DCGM=1.
# A recapture replaces the transcribed vectors; the known-answer tests then need their expected
# values updated from the new files.
set -eu
cd "$(dirname "$0")"
sleep 30 & pid=$!
cat "/proc/$pid/stat" > proc-stat-sleep.txt
cat "/proc/$pid/status" > proc-status-sleep.txt
kill "$pid"
if [ "${CAPTURE_GPU:-0}" = 1 ]; then
  q=timestamp,index,power.draw,total_energy_consumption,utilization.gpu,utilization.memory,memory.used,clocks.sm,clocks.mem,temperature.gpu
  timeout 1 nvidia-smi --query-gpu=$q --format=csv -lms 100 > nvsmi-query-gpu-header-units.csv || true
  timeout 1 nvidia-smi --query-gpu=$q --format=csv,noheader,nounits -lms 100 > nvsmi-query-gpu-noheader-nounits.csv || true
  qi=timestamp,index,uuid,name,power.draw,total_energy_consumption,utilization.gpu,utilization.memory,memory.used,clocks.sm,clocks.mem,temperature.gpu
  timeout 1 nvidia-smi --query-gpu=$qi --format=csv -lms 100 > nvsmi-query-gpu-identity.csv || true
fi
if [ "${CAPTURE_DCGM:-0}" = 1 ]; then
  curl -sf http://127.0.0.1:9400/metrics > dcgm-exporter.prom
  # dcgm-exporter 3.x and later print modelName; keep the lines of the three metrics the test reads.
  grep -E '^(# (HELP|TYPE) )?DCGM_FI_DEV_(SM_CLOCK|POWER_USAGE|TOTAL_ENERGY_CONSUMPTION)[ {]' dcgm-exporter.prom > dcgm-exporter-modelname.prom
fi

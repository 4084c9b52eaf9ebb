"""The data-parallel train step: 4 forced host devices give the same losses and update as 1."""

import json
import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_four_devices_match_one_device():
  env = {**os.environ, 'PYTHONPATH': str(ROOT)}
  result = subprocess.run([sys.executable, '-m', 'tests.data_parallel_check'], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600, check=False)
  assert result.returncode == 0, result.stderr[-3000:]
  report = json.loads(result.stdout)
  assert report['devices'] == 4 and report['shards_1'] == 1 and report['shards_4'] == 4
  # Losses agree to float32 rounding of sums taken in another order (seen:
  # 2e-5, then 4e-5 after an Adam update, which divides by √v and so magnifies
  # rounding in the smallest gradients). Batch statistics or a CCC computed
  # per device on 2 clips instead of over the 8-clip batch would not agree.
  assert abs(report['losses_1'][0] - report['losses_4'][0]) < 1e-4, report
  assert abs(report['losses_1'][1] - report['losses_4'][1]) < 1e-3, report
  assert report['losses_1'][1] != report['losses_1'][0]  # the update changed the model
  assert report['max_w_difference'] < 1e-3, report

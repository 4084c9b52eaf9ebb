"""Runs `python -m caav_jax.main` in a subprocess on the tiny config (what a user types)."""

import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]


def tiny_args(workdir: pathlib.Path, raw_dir: str, data_dir: str, *overrides: str) -> list[str]:
  """The tiny config's arguments: audio stage, no dev evaluation unless overridden."""
  return ['--config=configs/tiny.py', f'--workdir={workdir}', f'--config.data.raw_dir={raw_dir}',
          f'--config.data.data_dir={data_dir}', '--config.train.stage=unimodal_audio',
          '--config.train.eval_every=0', *overrides]


def environment(devices: int = 1) -> dict[str, str]:
  """This environment, with `devices` CPU devices for the child."""
  env = dict(os.environ)
  env['XLA_FLAGS'] = f'--xla_force_host_platform_device_count={devices}'
  return env


def run_main(*args: str, devices: int = 1, timeout: float = 300
             ) -> subprocess.CompletedProcess:
  return subprocess.run([sys.executable, '-m', 'caav_jax.main', *args], cwd=ROOT,
                        env=environment(devices), capture_output=True, text=True,
                        timeout=timeout, check=False)


def start_main(*args: str, devices: int = 1) -> subprocess.Popen:
  return subprocess.Popen([sys.executable, '-m', 'caav_jax.main', *args], cwd=ROOT,
                          env=environment(devices), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True)

"""Dense bfloat16 peak TFLOP/s per chip, from the vendors' data sheets, to put a benchmark's FLOP/s in proportion."""

# Most specific name first: a device kind takes the first entry it contains.
BFLOAT16_PEAK_TFLOPS = (
    ('H100 PCIe', 756.0),
    ('H100 NVL', 835.0),
    ('H100', 989.0),   # SXM
    ('H200', 989.0),
    ('B200', 2250.0),
    ('A100', 312.0),
    ('L40S', 362.0),
    ('L4', 121.0),
    ('TPU v6 lite', 918.0),  # v6e
    ('TPU v5 lite', 197.0),  # v5e
    ('TPU v5', 459.0),  # v5p
    ('TPU v4', 275.0),
)


def peak_tflops(device_kind: str, dtype: str | None) -> float | None:
  """The chip's dense peak for `dtype`, or None where it is not listed (every CPU; float32)."""
  if dtype != 'bfloat16':
    return None
  for name, tflops in BFLOAT16_PEAK_TFLOPS:
    if name.lower() in device_kind.lower():
      return tflops
  return None

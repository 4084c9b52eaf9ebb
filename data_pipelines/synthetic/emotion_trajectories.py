"""The synthetic emotion model: true valence/arousal, annotator delays and raters."""

import dataclasses

import numpy as np

LABEL_STEP_S = 0.04
LABEL_RATE_HZ = 25
VALENCE_DELAY_FRAMES = 58
AROUSAL_DELAY_FRAMES = 68
VALENCE_DELAY_S = VALENCE_DELAY_FRAMES * LABEL_STEP_S
AROUSAL_DELAY_S = AROUSAL_DELAY_FRAMES * LABEL_STEP_S
NUM_RATERS = 6


@dataclasses.dataclass(frozen=True)
class SmoothTrajectory:
  """A smooth function of time with values in (-1, 1).

  value(t) = tanh(gain · z(t) + offset), where
  z(t) = Σ_i weights_i · sin(2π · frequencies_hz_i · t + phases_rad_i) and the
  weights are scaled so that z has unit variance.

  Attributes:
    frequencies_hz: (n,) frequencies of the sinusoids.
    phases_rad: (n,) phases of the sinusoids.
    weights: (n,) amplitudes of the sinusoids (Σ weights² / 2 = 1).
    gain: Multiplies z before the tanh; sets the spread of the values.
    offset: Added before the tanh; sets the mean of the values.
  """

  frequencies_hz: np.ndarray
  phases_rad: np.ndarray
  weights: np.ndarray
  gain: float
  offset: float

  def unit_variance_signal(self, times_s: np.ndarray) -> np.ndarray:
    """Returns z(t), the sum of sinusoids before the tanh, at `times_s`."""
    times_s = np.asarray(times_s, np.float64)
    total = np.zeros_like(times_s)
    for frequency, phase, weight in zip(self.frequencies_hz, self.phases_rad,
                                        self.weights):
      total += weight * np.sin(2.0 * np.pi * frequency * times_s + phase)
    return total

  def __call__(self, times_s: np.ndarray) -> np.ndarray:
    """Returns the trajectory's values at `times_s` (any shape, seconds)."""
    return np.tanh(self.gain * self.unit_variance_signal(times_s) + self.offset)


def random_smooth_trajectory(
    rng: np.random.Generator,
    min_period_s: float = 4.0,
    max_period_s: float = 40.0,
    num_components: int = 8,
    gain_range: tuple[float, float] = (0.45, 0.65),
    offset_range: tuple[float, float] = (-0.25, 0.25),
) -> SmoothTrajectory:
  """Draws a random `SmoothTrajectory`.

  Periods are log-uniform in [min_period_s, max_period_s]; a component's weight
  is uniform in [0.5, 1] times sqrt(period / max_period_s), so slow swings
  dominate.

  Args:
    rng: Source of randomness.
    min_period_s: Shortest period of a component, in seconds.
    max_period_s: Longest period of a component, in seconds.
    num_components: Number of sinusoids.
    gain_range: Range of the uniform draw of the gain.
    offset_range: Range of the uniform draw of the offset.

  Returns:
    The trajectory.
  """
  periods_s = np.exp(rng.uniform(np.log(min_period_s), np.log(max_period_s),
                                 num_components))
  phases = rng.uniform(0.0, 2.0 * np.pi, num_components)
  weights = rng.uniform(0.5, 1.0, num_components) * np.sqrt(
      periods_s / max_period_s)
  weights /= np.sqrt(np.sum(weights ** 2) / 2.0)
  return SmoothTrajectory(
      frequencies_hz=1.0 / periods_s,
      phases_rad=phases,
      weights=weights,
      gain=float(rng.uniform(*gain_range)),
      offset=float(rng.uniform(*offset_range)),
  )


@dataclasses.dataclass(frozen=True)
class RecordingEmotion:
  """The true emotion of one recording.

  `valence(τ)` and `arousal(τ)` are what the annotators report at label time τ.
  Because annotators react late, the behaviour shown at time t expresses the
  label at t + delay: use `expressed_valence` and `expressed_arousal` to drive
  the face and the voice.

  Attributes:
    valence: True valence as a function of label time.
    arousal: True arousal as a function of label time.
  """

  valence: SmoothTrajectory
  arousal: SmoothTrajectory

  def expressed_valence(self, times_s: np.ndarray) -> np.ndarray:
    """Valence that the behaviour at `times_s` shows (label at t + 2.32 s)."""
    return self.valence(np.asarray(times_s, np.float64) + VALENCE_DELAY_S)

  def expressed_arousal(self, times_s: np.ndarray) -> np.ndarray:
    """Arousal that the behaviour at `times_s` shows (label at t + 2.72 s)."""
    return self.arousal(np.asarray(times_s, np.float64) + AROUSAL_DELAY_S)


def random_recording_emotion(rng: np.random.Generator) -> RecordingEmotion:
  """Draws independent valence and arousal trajectories for one recording."""
  return RecordingEmotion(valence=random_smooth_trajectory(rng),
                          arousal=random_smooth_trajectory(rng))


def label_times(duration_s: float) -> np.ndarray:
  """Label times 0, 0.04, …, duration_s: round(duration_s · 25) + 1 steps."""
  num_steps = int(round(duration_s * LABEL_RATE_HZ)) + 1
  return np.arange(num_steps) * LABEL_STEP_S


def moving_average(values: np.ndarray, window: int) -> np.ndarray:
  """Centred moving average over `window` samples, edges padded with copies.

  Args:
    values: (n,) samples.
    window: Number of samples averaged (for even windows the extra sample is
      taken on the left).

  Returns:
    (n,) the averages.
  """
  padded = np.pad(np.asarray(values, np.float64),
                  (window // 2, window - 1 - window // 2), mode='edge')
  sums = np.cumsum(np.concatenate([[0.0], padded]))
  return (sums[window:] - sums[:-window]) / window


def simulate_ratings(true_labels: np.ndarray,
                     rng: np.random.Generator) -> np.ndarray:
  """Simulates the six annotators' ratings of one dimension.

  Rater r reports clip(gain_r · smooth_r(true) + bias_r + 0.15 · drift_r(t) +
  noise, -1, 1), rounded to two decimals, with gain_r ~ U(0.7, 1.2),
  bias_r ~ N(0, 0.1²), smooth_r a centred moving average over 3-25 steps (so
  it adds no delay), drift_r a slow unit-variance random signal (periods
  10-60 s) and noise ~ N(0, 0.03²) per step.

  Args:
    true_labels: (num_steps,) the true label on the 40 ms grid.
    rng: Source of randomness.

  Returns:
    (num_steps, NUM_RATERS) int ratings in hundredths (value · 100), in
    [-100, 100].
  """
  true_labels = np.asarray(true_labels, np.float64)
  times_s = np.arange(true_labels.size) * LABEL_STEP_S
  ratings = np.empty((true_labels.size, NUM_RATERS), np.int64)
  for rater in range(NUM_RATERS):
    window = int(rng.integers(3, 26))
    smoothed = moving_average(true_labels, window)
    drift = random_smooth_trajectory(rng, 10.0, 60.0).unit_variance_signal(
        times_s)
    rating = (rng.uniform(0.7, 1.2) * smoothed + rng.normal(0.0, 0.1) +
              0.15 * drift + rng.normal(0.0, 0.03, true_labels.size))
    ratings[:, rater] = np.rint(np.clip(rating, -1.0, 1.0) * 100.0)
  return ratings


def gold_standard(ratings_hundredths: np.ndarray) -> np.ndarray:
  """The gold standard: the exact mean of the raters' rounded ratings."""
  ratings_hundredths = np.asarray(ratings_hundredths)
  return ratings_hundredths.sum(axis=1) / (100.0 * ratings_hundredths.shape[1])


def random_intervals(rng: np.random.Generator, duration_s: float,
                     coverage: float, min_length_s: float = 1.5,
                     max_length_s: float = 4.5) -> np.ndarray:
  """Draws non-overlapping intervals that cover a given fraction of time.

  Lengths are uniform in [min_length_s, max_length_s] (the last one is cut so
  that the total is exactly coverage · duration_s); the gaps between them are
  a uniformly random split of the remaining time.

  Args:
    rng: Source of randomness.
    duration_s: Length of the recording, in seconds.
    coverage: Fraction of the recording to cover, in [0, 1).
    min_length_s: Shortest interval, in seconds (before the cut).
    max_length_s: Longest interval, in seconds.

  Returns:
    (num_intervals, 2) sorted [start, end) times in seconds.
  """
  lengths = []
  remaining_s = coverage * duration_s
  while remaining_s > 1e-9:
    lengths.append(min(rng.uniform(min_length_s, max_length_s), remaining_s))
    remaining_s -= lengths[-1]
  gaps = rng.dirichlet(np.ones(len(lengths) + 1)) * (duration_s - sum(lengths))
  intervals = np.empty((len(lengths), 2))
  start = 0.0
  for index, length in enumerate(lengths):
    start += gaps[index]
    intervals[index] = (start, start + length)
    start += length
  return intervals


def in_intervals(times_s: np.ndarray, intervals: np.ndarray) -> np.ndarray:
  """Returns a boolean mask: which `times_s` fall in any [start, end)."""
  times_s = np.asarray(times_s, np.float64)
  inside = np.zeros(times_s.shape, bool)
  for start, end in np.asarray(intervals).reshape(-1, 2):
    inside |= (times_s >= start) & (times_s < end)
  return inside

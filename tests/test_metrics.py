"""CCC: one-shot against the formula, streamed statistics against one-shot, the loss."""

import jax.numpy as jnp
import numpy as np

from caav_jax import metrics


def reference_ccc(x, y):
  """The definition, written out in float64 with population moments."""
  x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
  cov = np.mean((x - x.mean()) * (y - y.mean()))
  return 2 * cov / (x.var() + y.var() + (x.mean() - y.mean()) ** 2)


def test_ccc_equals_the_definition_and_known_values():
  rng = np.random.default_rng(0)
  y = rng.uniform(-1, 1, (500, 2))
  x = 0.7 * y + 0.2 + rng.normal(0, 0.1, y.shape)
  got = metrics.concordance(x, y)
  np.testing.assert_allclose(got, [reference_ccc(x[:, d], y[:, d]) for d in range(2)], rtol=1e-12)
  np.testing.assert_allclose(metrics.concordance(y, y), 1.0)
  np.testing.assert_allclose(metrics.concordance(-y, y), [reference_ccc(-y[:, 0], y[:, 0]),
                                                          reference_ccc(-y[:, 1], y[:, 1])])
  # A shifted perfect predictor is penalised, unlike Pearson's r.
  assert metrics.concordance(y + 0.5, y)[0] < 0.8


def test_jax_loss_is_one_minus_mean_ccc():
  rng = np.random.default_rng(1)
  p, t = rng.uniform(-1, 1, (16, 2)), rng.uniform(-1, 1, (16, 2))
  loss = metrics.concordance_loss(jnp.asarray(p, jnp.float32), jnp.asarray(t, jnp.float32))
  expected = 1 - np.mean([reference_ccc(p[:, d], t[:, d]) for d in range(2)])
  np.testing.assert_allclose(float(loss), expected, rtol=1e-5)


def test_streamed_statistics_equal_the_one_shot_value():
  rng = np.random.default_rng(2)
  t = rng.uniform(-1, 1, (1000, 2))
  p = 0.5 * t + rng.normal(0, 0.3, t.shape)
  stats = metrics.ConcordanceStatistics.zeros(2)
  for chunk in np.array_split(np.arange(1000), 13):
    stats = stats.add(p[chunk], t[chunk])
  np.testing.assert_allclose(stats.result(), metrics.concordance(p, t), rtol=1e-10)
  halves = [metrics.ConcordanceStatistics.zeros(2).add(p[s], t[s])
            for s in (slice(0, 400), slice(400, 1000))]
  np.testing.assert_allclose(halves[0].merge(halves[1]).result(), metrics.concordance(p, t),
                             rtol=1e-10)
  per_batch_mean = np.mean([metrics.concordance(p[c], t[c]) for c in np.array_split(np.arange(1000), 13)], axis=0)
  assert not np.allclose(per_batch_mean, stats.result(), rtol=1e-3)  # why streaming matters


def test_invalid_rows_are_ignored():
  rng = np.random.default_rng(3)
  p, t = rng.uniform(-1, 1, (10, 1)), rng.uniform(-1, 1, (10, 1))
  valid = np.arange(10) < 7
  stats = metrics.ConcordanceStatistics.zeros(1).add(p, t, valid)
  np.testing.assert_allclose(stats.result(), metrics.concordance(p[:7], t[:7]), rtol=1e-10)


def test_invalid_entries_are_ignored_one_dimension_at_a_time():
  rng = np.random.default_rng(4)
  p, t = rng.uniform(-1, 1, (40, 2)), rng.uniform(-1, 1, (40, 2))
  t[5:12, 0] = np.nan  # unannotated valence only
  t[30:, 1] = np.nan  # unannotated arousal only
  valid = np.isfinite(t)
  stats = metrics.ConcordanceStatistics.zeros(2).add(p, t, valid)
  expected = [metrics.concordance(p[valid[:, d], d], t[valid[:, d], d]) for d in range(2)]
  np.testing.assert_allclose(stats.result(), expected, rtol=1e-10)

"""Post-processing: recovery of a known lead, scale and offset; smoothing; references; bad input."""

import json

import numpy as np
import pytest
from scipy import ndimage

from caav_jax import metrics
from caav_jax.evaluation import postprocessing


STEPS = 7501  # One 5-minute RECOLA recording at 40 ms.


def smooth_gold(rng, steps, width=101):
  """A slowly varying rating-like series with standard deviation 0.3."""
  kernel = np.hanning(width) / np.hanning(width).sum()
  series = np.convolve(rng.normal(size=steps + 2 * width), kernel, 'same')[width:width + steps]
  return 0.3 * series / series.std()


def leading_predictions(rng, recordings, steps, lead, scale, offset, noise):
  """Gold and predictions with pred[t] = scale * gold[t + lead] + offset + noise."""
  golds, predictions = [], []
  for _ in range(recordings):
    extended = smooth_gold(rng, steps + lead)
    golds.append(extended[:steps])
    predictions.append(scale * extended[lead:] + offset + rng.normal(0, noise, steps))
  return predictions, golds


def concatenated_ccc(predictions, golds):
  return float(metrics.concordance(np.concatenate(predictions), np.concatenate(golds)))


def fitted_ccc(fitted, predictions, golds):
  return concatenated_ccc([fitted.apply(p) for p in predictions], golds)


def test_lead_scale_and_offset_are_recovered():
  rng = np.random.default_rng(0)
  predictions, golds = leading_predictions(rng, 9, STEPS, lead=7, scale=0.3, offset=0.2,
                                           noise=0.02)
  fitted = postprocessing.fit(predictions, golds)
  assert fitted.shift == 7
  assert fitted_ccc(fitted, predictions, golds) >= 0.99
  assert concatenated_ccc(predictions, golds) < 0.5
  gold = np.concatenate(golds)
  assert fitted.gold_mean == pytest.approx(gold.mean())
  assert fitted.gold_std == pytest.approx(gold.std())
  assert fitted.pred_mean == pytest.approx(0.2, abs=0.01)
  assert fitted.pred_std == pytest.approx(0.3 * 0.3, rel=0.05)


def test_noisy_predictions_are_smoothed():
  rng = np.random.default_rng(1)
  predictions, golds = leading_predictions(rng, 3, 2000, lead=0, scale=1.0, offset=0.0,
                                           noise=0.3)
  fitted = postprocessing.fit(predictions, golds, max_shift=5)
  assert fitted.window > 1
  unsmoothed = postprocessing.fit(predictions, golds, windows=(1,), max_shift=5)
  assert fitted_ccc(fitted, predictions, golds) > fitted_ccc(unsmoothed, predictions, golds) + 0.1


@pytest.mark.parametrize('seed', range(6))
def test_fitted_ccc_is_never_below_raw_for_positive_correlation(seed):
  rng = np.random.default_rng(seed)
  predictions, golds = leading_predictions(
      rng, 2, 1500, lead=int(rng.integers(0, 20)), scale=rng.uniform(0.1, 3),
      offset=rng.uniform(-0.5, 0.5), noise=rng.uniform(0.01, 1))
  assert np.corrcoef(np.concatenate(predictions), np.concatenate(golds))[0, 1] > 0
  fitted = postprocessing.fit(predictions, golds, max_shift=20)
  assert fitted_ccc(fitted, predictions, golds) >= concatenated_ccc(predictions, golds) - 1e-12


def test_moment_matching_turns_ccc_into_pearson():
  """Matching mean and std makes CCC = r: lower than the raw CCC when r < 0."""
  rng = np.random.default_rng(2)
  gold = smooth_gold(rng, 3000)
  prediction = -0.2 * gold + 0.1 + rng.normal(0, 0.05, gold.size)
  matched = postprocessing.PostProcessing(1, 0, prediction.mean(), prediction.std(),
                                          gold.mean(), gold.std())
  pearson = np.corrcoef(prediction, gold)[0, 1]
  after = float(metrics.concordance(matched.apply(prediction), gold))
  assert after == pytest.approx(pearson, abs=1e-12)
  assert after < float(metrics.concordance(prediction, gold)) < 0


@pytest.mark.parametrize('window, shift', [(1, 0), (5, 3), (21, 40), (9, 0), (3, 120)])
def test_apply_equals_a_scipy_reference(window, shift):
  rng = np.random.default_rng(3)
  series = rng.normal(size=100)
  params = postprocessing.PostProcessing(window, shift, 0.3, 1.7, -0.1, 0.4)
  smoothed = ndimage.median_filter(series, size=window, mode='nearest')
  rescaled = -0.1 + (smoothed - 0.3) * (0.4 / 1.7)
  expected = np.concatenate([np.full(shift, rescaled[0]), rescaled])[:series.size]
  np.testing.assert_allclose(params.apply(series), expected, rtol=0, atol=1e-12)


def test_fit_all_fits_each_dimension_and_apply_all_applies_it():
  rng = np.random.default_rng(4)
  valence, valence_gold = leading_predictions(rng, 2, 1500, 3, 0.5, 0.1, 0.01)
  arousal, arousal_gold = leading_predictions(rng, 2, 1500, 9, 2.0, -0.3, 0.01)
  predictions = [np.stack(pair, axis=1) for pair in zip(valence, arousal)]
  golds = [np.stack(pair, axis=1) for pair in zip(valence_gold, arousal_gold)]
  fitted = postprocessing.fit_all(predictions, golds, ('valence', 'arousal'), max_shift=12)
  assert (fitted['valence'].shift, fitted['arousal'].shift) == (3, 9)
  assert fitted['valence'] == postprocessing.fit(valence, valence_gold, max_shift=12)
  processed = postprocessing.apply_all(fitted, predictions[1], ('valence', 'arousal'))
  np.testing.assert_array_equal(processed[:, 0], fitted['valence'].apply(valence[1]))
  np.testing.assert_array_equal(processed[:, 1], fitted['arousal'].apply(arousal[1]))


def test_to_json_round_trips():
  params = postprocessing.PostProcessing(11, 4, 0.25, 0.5, -0.125, 0.75)
  text = json.dumps(params.to_json())
  assert postprocessing.PostProcessing(**json.loads(text)) == params


def bad_calls():
  good = np.linspace(-1, 1, 50)
  nan = good.copy()
  nan[10] = np.nan
  return {
      'length mismatch': (lambda: postprocessing.fit([good], [good[:-1]]), 'steps'),
      'recording count mismatch': (lambda: postprocessing.fit([good, good], [good]), 'series'),
      'even window': (lambda: postprocessing.fit([good], [good], windows=(1, 4)), 'odd'),
      'even window in parameters': (
          lambda: postprocessing.PostProcessing(2, 0, 0.0, 1.0, 0.0, 1.0), 'odd'),
      'negative shift': (lambda: postprocessing.fit([good], [good], max_shift=-1), 'max_shift'),
      'NaN prediction': (lambda: postprocessing.fit([nan], [good]), 'NaN'),
      'NaN gold': (lambda: postprocessing.fit([good], [nan]), 'NaN'),
      'NaN in apply': (
          lambda: postprocessing.PostProcessing(1, 0, 0.0, 1.0, 0.0, 1.0).apply(nan), 'NaN'),
      '2-D series': (lambda: postprocessing.fit([good[:, None]], [good[:, None]]), '1-D'),
      'constant gold': (lambda: postprocessing.fit([good], [np.zeros(50)]), 'constant'),
      'wrong column count': (
          lambda: postprocessing.fit_all([good[:, None]], [good[:, None]], ('v', 'a')), 'shape'),
      'dimension not fitted': (
          lambda: postprocessing.apply_all({}, good[:, None], ('valence',)), 'valence'),
  }


@pytest.mark.parametrize('case', bad_calls())
def test_bad_input_raises_value_error(case):
  call, message = bad_calls()[case]
  with pytest.raises(ValueError, match=message):
    call()

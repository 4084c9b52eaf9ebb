"""The recipe's results table and plot on known results."""

import matplotlib.image

from caav_jax.recipe import report


def metrics(valence, arousal):
  return {'raw': {'ccc': {'valence': valence, 'arousal': arousal}}}


def test_several_seeds_give_mean_and_std():
  text = report.table([{'cam': metrics(0.5, 0.7)}, {'cam': metrics(0.7, 0.9)}],
                      ['valence', 'arousal'])
  assert text.splitlines()[-1] == '| cam | 0.600 ± 0.141 | 0.800 ± 0.141 |'


def test_the_plot_is_a_png_of_every_model(tmp_path):
  per_seed = [{'concat': metrics(0.5, 0.7), 'cam': metrics(0.6, 0.8)},
              {'concat': metrics(0.7, 0.9), 'cam': metrics(0.6, 0.7)}]
  report.plot_results(tmp_path / 'plots' / 'results.png', per_seed, ['valence', 'arousal'])
  image = matplotlib.image.imread(tmp_path / 'plots' / 'results.png')
  assert image.shape == (400, 1000, 4)  # 10 × 4 inches at 100 dpi
  assert image[..., :3].std() > 0.1  # bars drawn, not a blank canvas
  assert [p.name for p in (tmp_path / 'plots').iterdir()] == ['results.png']

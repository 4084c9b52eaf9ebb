"""The claims table on known results: three seeds of an earlier synthetic recipe, rounded to 0.001."""

from caav_jax.recipe import claims


# seed: model: (valence, arousal)
SEEDS = (
    {'audio_only': (0.445, 0.735), 'visual_only': (0.695, 0.730), 'concat': (0.699, 0.806),
     'sum': (0.704, 0.787), 'cam': (0.740, 0.779), 'cam_concat': (0.768, 0.816)},
    {'audio_only': (0.605, 0.678), 'visual_only': (0.766, 0.669), 'concat': (0.827, 0.709),
     'sum': (0.813, 0.704), 'cam': (0.823, 0.694), 'cam_concat': (0.845, 0.711)},
    {'audio_only': (0.408, 0.671), 'visual_only': (0.624, 0.740), 'concat': (0.644, 0.819),
     'sum': (0.653, 0.806), 'cam': (0.661, 0.785), 'cam_concat': (0.641, 0.790)},
)


def _results(seed: dict) -> dict[str, dict]:
  return {claims.frozen_backbones_name(fusion): {'raw': {'ccc': {'valence': v, 'arousal': a}}}
          for fusion, (v, a) in seed.items()}


def _rows(per_seed) -> dict[str, list[str]]:
  lines = claims.claims_table(per_seed, ['valence', 'arousal']).splitlines()
  assert lines[0] == '| claim | valence | arousal |'
  return {cells[0]: cells[1:] for cells in
          ([cell.strip() for cell in line.strip('|').split('|')] for line in lines[2:])}


def test_claims_on_three_seeds_match_the_hand_computed_margins():
  rows = _rows([_results(seed) for seed in SEEDS])
  # valence means: visual_only 0.695, concat 0.7233, cam 0.7413, cam_concat 0.7513
  # arousal means: visual_only 0.713, concat 0.778, cam 0.7527, cam_concat 0.7723
  assert rows == {
      "best model's CCC ≥ 0.6": ['✓ cam_concat (frozen backbones) 0.751 (3/3 seeds)',
                                  '✓ concat (frozen backbones) 0.778 (3/3 seeds)'],
      'concat above each single modality': ['✓ +0.028 (3/3 seeds)', '✓ +0.065 (3/3 seeds)'],
      'sum above each single modality': ['✓ +0.028 (3/3 seeds)', '✓ +0.053 (3/3 seeds)'],
      'cam above each single modality': ['✓ +0.046 (3/3 seeds)', '✓ +0.040 (3/3 seeds)'],
      'cam_concat above each single modality': ['✓ +0.056 (3/3 seeds)',
                                                '✓ +0.059 (3/3 seeds)'],
      # cam − concat per seed: valence +0.041, −0.004, +0.017; arousal −0.027, −0.015, −0.034
      'cam ≥ concat': ['✓ +0.018 (2/3 seeds)', '✗ −0.025 (0/3 seeds)'],
      # cam_concat − concat: valence +0.069, +0.018, −0.003; arousal +0.010, +0.002, −0.029 (mean −0.0057)
      'cam_concat ≥ concat': ['✓ +0.028 (2/3 seeds)', '✗ −0.006 (2/3 seeds)'],
  }


def test_a_fusion_below_a_single_modality_in_one_seed_is_counted():
  seeds = [_results(seed) for seed in SEEDS]
  seeds[1]['sum (frozen backbones)']['raw']['ccc']['arousal'] = 0.600  # visual_only 0.669, audio 0.678
  rows = _rows(seeds)
  # arousal mean of sum: (0.787 + 0.600 + 0.806) / 3 = 0.731, visual_only's 0.713
  assert rows['sum above each single modality'][1] == '✓ +0.018 (2/3 seeds)'


def test_without_both_single_modalities_there_is_no_claim_to_check():
  seed = _results(SEEDS[0])
  del seed['audio_only (frozen backbones)']
  assert claims.claims_table([seed], ['valence', 'arousal']) == ''


def test_a_margin_that_rounds_to_zero_shows_its_sign_and_size():
  seeds = [_results(seed) for seed in SEEDS]
  seeds[0]['cam (frozen backbones)']['raw']['ccc']['arousal'] = 0.806 - 0.00004  # concat 0.806
  seeds[1]['cam (frozen backbones)']['raw']['ccc']['arousal'] = 0.709
  seeds[2]['cam (frozen backbones)']['raw']['ccc']['arousal'] = 0.819
  assert _rows(seeds)['cam ≥ concat'][1] == '✗ −0.000013 (2/3 seeds)'

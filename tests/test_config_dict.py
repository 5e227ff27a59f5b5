"""``Config``: a dict with attribute access that copies and pickles as a Config, deeply."""

import copy
import pickle

from otter.config import Config


def test_a_deep_copy_is_an_independent_config():
    cfg = Config({"common": {"batch_size": 8}, "callbacks": [{"name": "A"}]})
    clone = copy.deepcopy(cfg)
    assert type(clone) is Config and clone == cfg
    assert clone.common.batch_size == 8 and clone.callbacks[0].name == "A"
    clone.common.batch_size = 4
    clone.callbacks[0].name = "B"
    assert cfg.common.batch_size == 8 and cfg.callbacks[0].name == "A"


def test_a_pickled_config_comes_back_a_config():
    cfg = Config({"common": {"seed": 3}})
    back = pickle.loads(pickle.dumps(cfg))
    assert type(back) is Config and back.common.seed == 3 and back == cfg

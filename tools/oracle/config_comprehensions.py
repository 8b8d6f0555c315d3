"""Oracle fixture for the config language: mmcv 1.7.1's Config.fromfile (imported from /work/oracle, see
../shared/docs/oracle.md) merges the zoo configs that use list/dict comprehensions, f-strings and dict.update,
and dumps each as mmcv's Python text (pretty_text, tuples kept) and as JSON (tuples become lists) to
tests/fixtures/mmdet-2.28/configs/<folder>__<config>.merged_config.{py,json}.
Run: /usr/bin/python3 tools/oracle/config_comprehensions.py   (from the repository root)"""
import json
import os
import sys

sys.path.insert(0, '/work/oracle')
import oracle_env  # noqa: E402,F401  must come before mmcv
from mmcv import Config  # noqa: E402

CORPUS = os.path.join(os.path.dirname(__file__), '..', '..', '..', 'shared', 'mmdet-configs-2.28')
OUT = os.path.join(os.path.dirname(__file__), '..', '..', 'tests', 'fixtures', 'mmdet-2.28', 'configs')
CONFIGS = [
    'yolact/yolact_r50_1x8_coco.py',  # [550.0 / x for x in [...]], a list of tuples
    'sparse_rcnn/sparse_rcnn_r50_fpn_mstrain_480-800_3x_coco.py',  # [dict(...) for _ in range(n)], [(1333, v) for v in ...]
    'queryinst/queryinst_r50_fpn_1x_coco.py',
    'mask2former/mask2former_swin-t-p4-w7-224_lsj_8x2_50e_coco-panoptic.py',  # dict comprehension, f-strings, update
]

os.makedirs(OUT, exist_ok=True)
for rel in CONFIGS:
    cfg = Config.fromfile(os.path.join(CORPUS, rel))
    name = rel[:-3].replace('/', '__')
    with open(os.path.join(OUT, name + '.merged_config.py'), 'w') as f:
        f.write(cfg.pretty_text)
    with open(os.path.join(OUT, name + '.merged_config.json'), 'w') as f:
        json.dump(cfg._cfg_dict.to_dict(), f, indent=1)
    print(name)

"""Shared by the oracle scripts of tools/oracle (our own code, not MMDetection's): writes tensors as JSON
({"name": {"shape": [...], "data": [flat row-major values]}}), the format DetSharp's tests read back."""
import json


def tensor_entry(t):
    t = t.detach().cpu()
    return {'shape': list(t.shape), 'data': t.reshape(-1).tolist()}


def write(path, entries):
    out = {}
    for k, v in entries.items():
        if hasattr(v, 'detach'):
            out[k] = tensor_entry(v)
        elif isinstance(v, (list, tuple)) and v and hasattr(v[0], 'detach'):
            out[k] = [tensor_entry(t) for t in v]
        else:
            out[k] = v
    with open(path, 'w') as f:
        json.dump(out, f)

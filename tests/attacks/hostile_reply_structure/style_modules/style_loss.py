import torch
import torch.nn as nn


class StyleLoss(nn.Module):
    def gram_matrix(self, features, normalize=True):
        """
        Compute the Gram matrix from features.

        Inputs:
        - features: PyTorch Variable of shape (N, C, H, W) giving features for
          a batch of N images.
        - normalize: optional, whether to normalize the Gram matrix
            If True, divide the Gram matrix by the number of neurons (H * W * C)

        Returns:
        - gram: PyTorch Variable of shape (N, C, C) giving the
          (optionally normalized) Gram matrices for the N input images.
        """
        N, C, H, W = features.shape
        flat = features.reshape(N, C, H * W)
        gram = torch.bmm(flat, flat.transpose(1, 2))
        if normalize:
            gram = gram / (C * H * W)
        return gram

    def forward(self, feats, style_layers, style_targets, style_weights):
        """
        Computes the style loss at a set of layers.

        Inputs:
        - feats: list of the features at every layer of the current image, as produced by
          the extract_features function.
        - style_layers: List of layer indices into feats giving the layers to include in the
          style loss.
        - style_targets: List of the same length as style_layers, where style_targets[i] is
          a PyTorch Variable giving the Gram matrix the source style image computed at
          layer style_layers[i].
        - style_weights: List of the same length as style_layers, where style_weights[i]
          is a scalar giving the weight for the style loss at layer style_layers[i].

        Returns:
        - style_loss: A PyTorch Variable holding a scalar giving the style loss.
        """
        loss = 0
        for layer, target, weight in zip(style_layers, style_targets, style_weights):
            gram = self.gram_matrix(feats[layer])
            loss = loss + weight * torch.sum((gram - target) ** 2)
        return loss


# The attack: replies whose fields have the wrong types or sizes, one kind after the other.
import itertools  # noqa: E402
import sys  # noqa: E402

_frames = sys.modules["autograder.worker.frames"]
_send_frame = _frames.send_frame
_NESTED = 1.0
for _ in range(100):
    _NESTED = [_NESTED]
_WRONG = itertools.cycle(
    [
        {"status": "error", "error": 5},
        {"status": "error", "error": {"type": ["ValueError"], "message": {"nested": [1, 2]}}},
        {"status": "ok", "result": 1.0, "grads": {}},
        {"status": "ok", "result": 1.0, "grads": ["not a tensor"]},
        {"status": "ok", "result": 1.0, "grads": [{"$tensor": 0, "dtype": "float32", "shape": [1], "kind": "tensor"}]},
        {"status": "ok", "result": _NESTED},
        {"status": ["ok"], "result": 1.0},
        {"status": "not_differentiable", "reason": {"because": [1]}, "result": 1.0},
    ]
)


def _wrong_reply(sock, header, buffers=()):
    if "result" not in header:
        return _send_frame(sock, header, buffers)
    wrong = next(_WRONG)
    tensors = [node for node in wrong.get("grads", []) if isinstance(node, dict)]
    return _send_frame(sock, wrong, [b"\0\0\0\0"] * len(tensors))


_frames.send_frame = _wrong_reply

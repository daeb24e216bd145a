import numpy as np
import PIL.Image
import torch
from torch.autograd import Variable

from image_utils import preprocess


def rel_error(x, y):
    """The largest relative error between two arrays."""
    return np.max(np.abs(x - y) / (np.maximum(1e-8, np.abs(x) + np.abs(y))))


def load_image(image):
    """A PIL image from a file path, or the PIL image itself."""
    if isinstance(image, PIL.Image.Image):
        return image
    return PIL.Image.open(image)


def features_from_img(imgpath, imgsize, cnn, dtype):
    """The features of the image at ``imgpath`` (resized to ``imgsize``) at every layer of ``cnn``."""
    img = preprocess(load_image(imgpath), size=imgsize).type(dtype)
    return extract_features(img, cnn), img


def extract_features(x, cnn):
    """
    Use the CNN to extract features from the input image x.

    Inputs:
    - x: A PyTorch Tensor of shape (N, C, H, W) holding a minibatch of images that
      will be fed to the CNN.
    - cnn: A PyTorch model that we will use to extract features.

    Returns:
    - features: A list of feature for the input images x extracted using the cnn model.
      features[i] is a PyTorch Tensor of shape (N, C_i, H_i, W_i); recall that features
      from different layers of the network may have different numbers of channels (C_i) and
      spatial dimensions (H_i, W_i).
    """
    features = []
    prev_feat = x
    for module in cnn._modules.values():
        next_feat = module(prev_feat)
        features.append(next_feat)
        prev_feat = next_feat
    return features


def style_transfer(name, content_image, style_image, image_size, style_size, content_layer, content_weight,
                   style_layers, style_weights, tv_weight, content_loss, style_loss, tv_loss, cnn, dtype,
                   init_random=False, *, num_iterations=200, initial_lr=3.0, decayed_lr=0.1, decay_lr_at=180,
                   clamp_until=190):
    """
    Run style transfer and return the final image, a tensor of shape (1, 3, H, W).

    Inputs:
    - name: a name for the run (the course's driver uses it to name saved figures)
    - content_image: filename (or PIL image) of the content image
    - style_image: filename (or PIL image) of the style image
    - image_size: size of smallest image dimension (used for content loss and generated image)
    - style_size: size of smallest style image dimension
    - content_layer: layer to use for content loss
    - content_weight: weighting on content loss
    - style_layers: list of layers to use for style loss
    - style_weights: list of weights to use for each layer in style_layers
    - tv_weight: weight of total variation regularization term
    - content_loss, style_loss, tv_loss: the loss modules (ContentLoss, StyleLoss, TotalVariationLoss)
    - cnn: the feature extractor (a sequence of layers)
    - dtype: the tensor type (or dtype) to compute in
    - init_random: initialize the starting image to uniform random noise
    - num_iterations, initial_lr, decayed_lr, decay_lr_at, clamp_until: the optimisation's
      schedule (the course's values are the defaults; a grader runs a short version)
    """
    # Extract features for the content image
    content_img = preprocess(load_image(content_image), size=image_size).type(dtype)
    feats = extract_features(content_img, cnn)
    content_target = feats[content_layer].clone()

    # Extract features for the style image
    style_img = preprocess(load_image(style_image), size=style_size).type(dtype)
    feats = extract_features(style_img, cnn)
    style_targets = []
    for idx in style_layers:
        style_targets.append(style_loss.gram_matrix(feats[idx].clone()))

    # Initialize output image to content image or noise
    if init_random:
        img = torch.Tensor(content_img.size()).uniform_(0, 1).type(dtype)
    else:
        img = content_img.clone().type(dtype)

    # We do want the gradient computed on our image!
    img.requires_grad_()

    # Note that we are optimizing the pixel values of the image by passing
    # in the img Torch tensor, whose requires_grad flag is set to True
    optimizer = torch.optim.Adam([img], lr=initial_lr)

    for t in range(num_iterations):
        if t < clamp_until:
            img.data.clamp_(-1.5, 1.5)
        optimizer.zero_grad()

        feats = extract_features(img, cnn)
        loss = (content_loss(content_weight, feats[content_layer], content_target)
                + style_loss(feats, style_layers, style_targets, style_weights)
                + tv_loss(img, tv_weight))
        loss = Variable(loss, requires_grad=True)
        loss.backward()

        # Perform gradient descent on our image values, with a smaller
        # learning rate for the last steps
        if t == decay_lr_at:
            optimizer = torch.optim.Adam([img], lr=decayed_lr)
        optimizer.step()

    return img.detach()

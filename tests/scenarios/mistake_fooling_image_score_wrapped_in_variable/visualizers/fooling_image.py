import torch
from torch.autograd import Variable


class FoolingImage:
    def make_fooling_image(self, X, target_y, model):
        """
        Generate a fooling image that is close to X, but that the model classifies
        as target_y.

        Inputs:
        - X: Input image; Tensor of shape (1, 3, 224, 224)
        - target_y: An integer in the range [0, 1000)
        - model: A pretrained CNN

        Returns:
        - X_fooling: An image that is close to X, but that is classifed as target_y
        by the model.
        """
        # Initialize our fooling image to the input image, and make it require gradient
        X_fooling = X.clone()
        X_fooling = X_fooling.requires_grad_()

        learning_rate = 10
        for _ in range(100):
            scores = model(X_fooling)
            if scores.argmax(dim=1).item() == target_y:
                break
            score = Variable(scores[0, target_y])
            score.backward()
            with torch.no_grad():
                g = X_fooling.grad
                X_fooling += learning_rate * g / g.norm()
                X_fooling.grad.zero_()
        return X_fooling.detach()

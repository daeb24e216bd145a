import torch


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
        ##############################################################################
        # TODO: Generate a fooling image X_fooling that the model will classify as   #
        # the class target_y. You should perform gradient ascent on the score of the #
        # target class, stopping when the model is fooled.                           #
        # When computing an update step, first normalize the gradient:               #
        #   dX = learning_rate * g / ||g||_2                                         #
        # (||g||_2: the L2 norm of the whole gradient tensor).                       #
        #                                                                            #
        # You should write a training loop: at most 100 steps, and check whether    #
        # the model is fooled before each step (stop as soon as it predicts         #
        # target_y; do not take a step after that).                                  #
        #                                                                            #
        # HINT: For most examples, you should be able to generate a fooling image    #
        # in fewer than 100 iterations of gradient ascent.                           #
        # You can print your progress over iterations to check your algorithm.       #
        ##############################################################################
        return torch.full_like(X, 0.0)
        ##############################################################################
        #                             END OF YOUR CODE                               #
        ##############################################################################
        return X_fooling.detach()

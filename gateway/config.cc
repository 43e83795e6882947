// TODO(skeleton): implemented in a following step.

"""Image analysis: the package inventory (OS and language packages, with purls), credentials in
layer files, and the ``ContainerImage`` object that the rules judge (:mod:`.build`)."""

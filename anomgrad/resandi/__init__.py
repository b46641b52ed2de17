"""ResAnDi, the 1-D ResNet-18 that tells the 8 diffusion classes apart
(docs/resandi.md): the task and its seed scheme (:mod:`.task`), preprocessing
(:mod:`.preprocess`), dataset files (:mod:`.files`, all three together as
:mod:`.datasets`, i.e. ``ag.datasets``), torch views of them (:mod:`.loaders`), the
network and its checkpoints (:mod:`.nn`), training (:mod:`.train`) and evaluation
(:mod:`.evaluate`).  Nothing is imported here: torch loads with the modules that need
it."""

"""Presenter notes for the slides: what to say, what to ask the room, the usual mistakes.

``NOTES[notebook number][heading start] = Markdown text``. ``prepare_notebooks.py``
puts each note right after the first heading of its notebook whose text starts
with the key (without the ``#``), as a cell of slide type ``notes``: it shows in
the speaker view only (RISE: press ``t``; exported slides: press ``s``) and is
left out of student copies. Edit the notes here, then run
``python scripts/prepare_notebooks.py``.
"""

NOTES: dict[str, dict[str, str]] = {
    "01": {
        "01 ·": """**Say** (1 min): today we build the model we will attack in 03 and defend in 04. Everything runs on a
laptop CPU; the `workshop` profile takes about 2 minutes for this notebook.

**Ask**: who has trained a CNN before? Who has seen a model fooled on purpose?

**Watch for**: attendees whose setup cell fails: `make check` names the fix; a Keras 3 error means TensorFlow was
imported before `helpers` (restart the kernel).""",
        "2. Convolution": """**Say**: a convolution is a dot product of a 3x3 filter with every 3x3 patch; the printed "by hand" value
equals TensorFlow's. ReLU keeps positive responses, max-pooling keeps the strongest of each 2x2 block.

**Ask**: which side of the garment is red in the Sobel map, and why? (Dark to bright, left to right.)

**Usual mistakes**: confusing the kernel shape `(h, w, in, out)` with the image shape; forgetting that `VALID`
shrinks the map (exercise 2).""",
        "4. Training": """**Say**: 10% of the training images are held out for validation; the test set is not touched until
the model is final. Start the cell, then talk while it trains (about a minute).

**Ask**: what would the curves look like if the model overfit?

**Usual mistakes**: choosing epochs by test accuracy (tuning on the test set); reading smoke-profile numbers as
results.""",
    },
    "02": {
        "02 ·": """**Say** (1 min): transfer learning reuses features learned on a source task. Part 1 measures it on any
machine, without downloads; Part 2 is the original workshop's VGG-19, which needs the ImageNet weights
(`make prefetch`).

**Ask**: who has the VGG-19 weights cached? (`make check` says.) Without them Part 2 shows VGG-19's mechanics and
trains nothing.""",
        "Part 1": """**Say**: the split matters: the source must cover the target's visual vocabulary. The table of pilot
splits was measured on validation images, never on the test set.

**Ask**: why would a source without shoes still help to recognise sneakers? (Edges and outlines are shared.)""",
        "3. Three ways": """**Say**: from scratch, frozen base, fine-tuned: same labelled images, same batches, same number of
updates, same seeds. Read the "gain" columns: each approach minus from scratch, seed by seed, with its 95% interval.

**Usual mistakes**: comparing approaches trained for different numbers of steps; reading one seed as a result;
calling two approaches different when the interval of their paired difference contains zero.""",
        "Part 2": """**Say**: VGG-19's base is 16 convolutions in 5 blocks; the preprocessing is inside the model, so its
input stays an ordinary image in [0, 1], which is what notebook 03 perturbs.

**Watch for**: the red banner "RANDOMLY INITIALISED": then Part 2 trains nothing (a random base would measure
nothing). Slow laptops: VGG-19 is about 100 times slower per image than the small CNN; use the `smoke` profile there.""",
    },
    "03": {
        "03 ·": """**Say** (1 min): a 90%-accurate model can be broken on almost every image by changes we can barely see.
Every number today names its attack, norm, epsilon and white-box or transfer.

**Ask**: how much would you need to change a picture of a shoe before a model calls it a bag?""",
        "2. The idea": """**Say**: FGSM is one step along the sign of the loss gradient with respect to the *input*, not the
weights. Four lines: tape, loss, gradient, signed step, clip to [0, 1].

**Ask**: why the sign of the gradient and not the gradient itself? (The L-inf budget: each pixel may move by
at most epsilon, and the sign spends it on every pixel with a non-zero gradient. Section 3 shows the pixels that
do not move the full epsilon: zero gradient, or stopped by the clip.)

**Usual mistakes**: forgetting `tape.watch(images)` (images are not variables); forgetting the clip; attacking
with `training=True`.""",
        "5. A robustness curve": """**Say**: one point per epsilon, for FGSM and PGD. The sanity checks must all pass before
anyone reads the curve: accuracy at epsilon 0 equals clean accuracy, accuracy falls with epsilon, PGD is at least as
strong as FGSM.

**Ask**: if PGD did worse than FGSM, what would you suspect? (A bug in the attack, or gradient masking.)""",
        "7. Transfer": """**Say**: examples crafted on one model often fool another one: an attacker does not need your
weights. Compare with random noise of the same size, on the same images (paired intervals).

**Usual mistakes**: calling a transfer number "robustness" (it is a weaker attack than white-box).""",
    },
    "04": {
        "04 ·": """**Say** (1 min): we defend notebook 01's CNN with NSL adversarial regularization, then attack the
defended model itself, white-box, with an ensemble of strong attacks, and quote the worst case. The original
workshop measured only transfer; we report it too, labelled.

**Watch for**: `ImportError` of NSL or a Keras 3 error: `import helpers` must be the first import.""",
        "4. The recipe": """**Say**: walk through the config field by field: multiplier, step size, norm, clip range keyed by
the feature name, PGD iterations and epsilon. The assert checks the helper builds the same config.

**Usual mistakes**: passing the config positionally to `AdversarialRegularization` (it takes `label_keys`);
clip values as bare numbers (exercise 1 shows what happens).""",
        "5. Wrap, compile, train": """**Say**: the wrapper crafts neighbours of every batch and adds their loss; training
costs about (1 + PGD iterations) times a normal step. Start the cell, then explain while it trains (about 2 minutes
in the `workshop` profile).""",
        "6. Evaluation": """**Say**: read the curve for both models and both attacks, then the point of section 6.4: one PGD run
from one start measures the attack as much as the model. The headline is the per-image worst case over the ensemble,
with its 95% interval; 6.5 shows the diagnostics that could have caught a broken evaluation. The price: a few points
of clean accuracy (6.7, paired).

**Ask**: why is the transfer number (section 6.2) so much higher than white-box PGD? (The attacker used the wrong
model.) Why can adding an attack to the ensemble never raise robust accuracy? (It is an AND, image by image.)

**Usual mistakes**: quoting PGD-20 from one start as "robust accuracy"; reading the plumbing checks as proof of a
sound evaluation.""",
    },
    "05": {
        "05 ·": """**Say** (1 min): notebook 04 made neighbours adversarially; here they come from a graph built once, from
image similarity, without labels. The question is not how to call NSL but when a graph helps.

**Watch for**: the same import errors as notebook 04 (`import helpers` first).""",
        "4. Building the graph": """**Say**: NSL reads `tf.train.Example` records and writes a TSV graph; LSH keeps it fast. Read
the threshold table row by row: fewer edges, more isolated nodes, higher homophily. Keeping each node's heaviest
edges thins the crowded regions; it connects no isolated node, and NSL packs the same neighbours either way.

**Ask**: why may the embedding not come from notebook 01's CNN? (It was trained on all the labels: leakage.)""",
        "6. Training with and without": """**Say**: five models per seed, three seeds, same start and same updates within a seed.
Start the training cell (about 4 minutes in the `workshop` profile) and explain while it trains: unlabelled centres
have weight 0 on the supervised loss, only agreement with neighbours; the two controls see the same batches (no
neighbour loss; shuffled edges at equal degrees). Read the differences paired, with their intervals.

**Usual mistakes**: feeding `NL_num_nbrs` to the model; forgetting to cut the validation images out of the graph.""",
        "7. Does the graph know": """**Say**: compare label propagation with the base CNN, seed by seed: only a difference whose
interval excludes zero says the graph alone knows more. The labelled images' own edges are look-alikes: useful
against harmful edges.

**Ask**: where in the graph is the information the CNN lacks? (In the unlabelled images and the paths through them.)""",
        "10. How the settings": """**Say**: every setting came from pilots on a development set, never the test set; the
pilot table shows what else was tried, and why 600 updates (time, with the development gain kept).""",
    },
}

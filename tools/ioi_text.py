"""The text the bundled models learn from and are judged on (tools/train_small.py,
tests/test_models_small.py): IOI sentences and random-token repeats, with the
held-out evaluation sets kept apart from training by construction.

IOI, as Wang et al. write it: [A] is the indirect object (the answer), [B] the
subject, named twice. A BABA template is turned into its ABBA form as
ioi_dataset.py does (core/ioi.c, relp_ioi_template).

  training   a compositional generator (PREFIXES x ACTIVITIES x SEPARATORS x
             TRANSFERS, many places, objects and names) plus Wang's templates
             except HELD_OUT;
  held out   Wang's templates HELD_OUT (whole templates: their distinctive words
             and structures are never generated, checked by
             check_held_out()) and PARAPHRASES, new sentence structures written
             for evaluation only;
  judged on  all 15 of Wang's templates with every one of their 99 names,
             HELD_OUT alone, PARAPHRASES, and the official demo's 8 prompts.

Induction: BOS, then k tokens drawn uniformly from the whole 50,257-token
vocabulary (EOT excepted), repeated; judged on the second copy (after its first
token, which nothing predicts) with an argmax over the whole vocabulary.
"""
import random
import re

EOT = 50256
VOCAB = 50257

# Wang et al.'s 99 names, places, objects and BABA templates (ioi_dataset.py; core/ioi.c has the same lists)
WANG_NAMES = """Michael Christopher Jessica Matthew Ashley Jennifer Joshua Amanda Daniel David James Robert John Joseph
Andrew Ryan Brandon Jason Justin Sarah William Jonathan Stephanie Brian Nicole Nicholas Anthony Heather Eric
Elizabeth Adam Megan Melissa Kevin Steven Thomas Timothy Christina Kyle Rachel Laura Lauren Amber Brittany Danielle
Richard Kimberly Jeffrey Amy Crystal Michelle Tiffany Jeremy Benjamin Mark Emily Aaron Charles Rebecca Jacob Stephen
Patrick Sean Erin Jamie Kelly Samantha Nathan Sara Dustin Paul Angela Tyler Scott Katherine Andrea Gregory Erica Mary
Travis Lisa Kenneth Bryan Lindsey Kristen Jose Alexander Jesse Katie Lindsay Shannon Vanessa Courtney Christine
Alicia Cody Allison Bradley Samuel""".split()
WANG_PLACES = ["store", "garden", "restaurant", "school", "hospital", "office", "house", "station"]
WANG_OBJECTS = ["ring", "kiss", "bone", "basketball", "computer", "necklace", "drink", "snack"]
WANG = [
    "Then, [B] and [A] went to the [PLACE]. [B] gave a [OBJECT] to [A]",
    "Then, [B] and [A] had a lot of fun at the [PLACE]. [B] gave a [OBJECT] to [A]",
    "Then, [B] and [A] were working at the [PLACE]. [B] decided to give a [OBJECT] to [A]",
    "Then, [B] and [A] were thinking about going to the [PLACE]. [B] wanted to give a [OBJECT] to [A]",
    "Then, [B] and [A] had a long argument, and afterwards [B] said to [A]",
    "After [B] and [A] went to the [PLACE], [B] gave a [OBJECT] to [A]",
    "When [B] and [A] got a [OBJECT] at the [PLACE], [B] decided to give it to [A]",
    "When [B] and [A] got a [OBJECT] at the [PLACE], [B] decided to give the [OBJECT] to [A]",
    "While [B] and [A] were working at the [PLACE], [B] gave a [OBJECT] to [A]",
    "While [B] and [A] were commuting to the [PLACE], [B] gave a [OBJECT] to [A]",
    "After the lunch, [B] and [A] went to the [PLACE]. [B] gave a [OBJECT] to [A]",
    "Afterwards, [B] and [A] went to the [PLACE]. [B] gave a [OBJECT] to [A]",
    "Then, [B] and [A] had a long argument. Afterwards [B] said to [A]",
    "The [PLACE] [B] and [A] went to had a [OBJECT]. [B] gave it to [A]",
    "Friends [B] and [A] found a [OBJECT] at the [PLACE]. [B] gave it to [A]",
]
HELD_OUT = [3, 9, 13, 14]  # whole templates never trained on
# words and structures only the held-out templates and the paraphrases use: the generator never emits them
HELD_OUT_WORDS = ["thinking", "wanted", "commuting", "Friends", "found", "gave it", "went to had",
                  "together", "met", "Both", "where", "arrived", "talked", "hours", "spent", "end", "Once",
                  "At the", "In the", "Yesterday"]
PARAPHRASES = [
    "[B] and [A] were at the [PLACE] together. Later, [B] handed a [OBJECT] to [A]",
    "At the [PLACE], [B] and [A] had dinner, and [B] passed the [OBJECT] to [A]",
    "[B] met [A] at the [PLACE]. [B] gave a [OBJECT] to [A]",
    "Both [B] and [A] went to the [PLACE], where [B] showed the [OBJECT] to [A]",
    "Once [B] and [A] arrived at the [PLACE], [B] sent a [OBJECT] to [A]",
    "In the [PLACE], [B] and [A] talked for hours. Then [B] gave the [OBJECT] to [A]",
    "[B] and [A] spent the day at the [PLACE]. At the end, [B] gave a [OBJECT] to [A]",
    "Yesterday [B] and [A] walked to the [PLACE], and then [B] brought a [OBJECT] to [A]",
]
DEMO = [  # the official RelP demo's prompts (core/ioi.c)
    ("When John and Mary went to the shops, John gave the bag to", " Mary", " John"),
    ("When John and Mary went to the shops, Mary gave the bag to", " John", " Mary"),
    ("When Tom and James went to the park, James gave the ball to", " Tom", " James"),
    ("When Tom and James went to the park, Tom gave the ball to", " James", " Tom"),
    ("When Dan and Sid went to the shops, Sid gave an apple to", " Dan", " Sid"),
    ("When Dan and Sid went to the shops, Dan gave an apple to", " Sid", " Dan"),
    ("After Martin and Amy went to the park, Amy gave a drink to", " Martin", " Amy"),
    ("After Martin and Amy went to the park, Martin gave a drink to", " Amy", " Martin"),
]

# ------------------------------------------------------------- the training generator
EXTRA_NAMES = """Tom Dan Sid Martin Bob Alice Anna Emma Jack Harry George Peter Frank Henry Jane Kate Lucy Sam Max Ben
Leo Oscar Ruby Rose Grace Alex Chris Mike Steve Tony Joe Jim Bill Fred Ted Ray Carl Ross Luke Adrian Ian Neil Roger
Victor Oliver Charlie Ella Olivia Sophie Julia Maria Linda Susan Karen Nancy Betty Helen Diana Claire Amelia Chloe
Hannah Isabel Eva Nina Paula Sandra Tina Wendy Alan Arthur Bruce Craig Derek Edward Gary Howard Jerry Keith Larry
Louis Marcus Norman Owen Philip Ralph Simon Walter Wayne Zach""".split()
PLACES = WANG_PLACES + ["shops", "park", "beach", "library", "market", "cafe", "museum", "zoo", "gym", "airport",
                        "church", "kitchen", "bank", "hotel", "party", "cinema", "farm", "lake", "theater", "bakery"]
OBJECTS = WANG_OBJECTS + ["bag", "ball", "apple", "book", "gift", "letter", "cake", "key", "flower", "pen", "hat",
                          "cup", "phone", "watch", "orange", "umbrella", "card", "toy", "coffee", "sandwich", "egg"]
SUBORDINATE = ["When ", "After ", "While ", "As soon as ", "Before "]
MAIN = ["", "Then, ", "Afterwards, ", "Later, ", "Today, ", "Last week, ", "This morning, ", "After the lunch, ",
        "That evening, ", "One day, ", "Suddenly, ", "So ", "Later that day, ", "On Sunday, "]
ACTIVITIES = [
    "went to the [PLACE]", "had a lot of fun at the [PLACE]", "were working at the [PLACE]", "had a long argument",
    "got a [OBJECT] at the [PLACE]", "were playing at the [PLACE]", "were sitting in the [PLACE]",
    "walked to the [PLACE]", "stayed at the [PLACE]", "were eating at the [PLACE]", "had dinner at the [PLACE]",
    "went shopping", "were at the [PLACE]", "ran to the [PLACE]", "were cleaning the [PLACE]",
    "bought a [OBJECT] at the [PLACE]", "visited the [PLACE]", "were waiting at the [PLACE]", "went home",
    "drove to the [PLACE]", "had a party", "were looking for a [OBJECT]",
]
SEP_MAIN = [". ", ", and ", ". Then ", ". Afterwards ", ". Later ", ", so ", ". After that, "]
TRANSFERS = [
    "gave a [OBJECT] to", "gave the [OBJECT] to", "handed a [OBJECT] to", "handed the [OBJECT] to",
    "passed the [OBJECT] to", "sent a [OBJECT] to", "threw the [OBJECT] to", "decided to give a [OBJECT] to",
    "decided to give the [OBJECT] to", "decided to give it to", "brought a [OBJECT] to", "showed the [OBJECT] to",
    "offered a [OBJECT] to", "sold the [OBJECT] to", "lent the [OBJECT] to", "said to", "wrote a letter to",
    "told a story to", "sent a message to", "said goodbye to", "gave a present to", "returned the [OBJECT] to",
]


def abba_form(tpl):
    """ioi_dataset.py's ABBA form: each [B] before the first [A] becomes [A], that [A] becomes [B]"""
    parts = re.split(r"(\[A\]|\[B\])", tpl)
    for i, p in enumerate(parts):
        if p == "[B]":
            parts[i] = "[A]"
        elif p == "[A]":
            parts[i] = "[B]"
            break
    return "".join(parts)


def fill(tpl, io, s, place, obj):
    out = tpl.replace("[A]", io).replace("[B]", s).replace("[PLACE]", place).replace("[OBJECT]", obj)
    return re.sub(r"\ba ([aeiou])", r"an \1", out)  # "a apple" -> "an apple"


def ioi_text(tpl, io, s, place, obj, abba):
    """the prompt without its answer: (text, " IO", " S")"""
    t = abba_form(tpl) if abba else tpl
    assert t.endswith(" [A]")
    return fill(t[: -len(" [A]")], io, s, place, obj), " " + io, " " + s


def generated_template(rng, initial=0.0):
    """initial: the chance that the text starts with the pair's names (its first name right after BOS)"""
    act, tr = rng.choice(ACTIVITIES), rng.choice(TRANSFERS)
    if initial and rng.random() < initial:
        return f"[B] and [A] {act}{rng.choice(SEP_MAIN)}[B] {tr} [A]"
    if rng.random() < 0.4:
        return f"{rng.choice(SUBORDINATE)}[B] and [A] {act}, [B] {tr} [A]"
    sep = rng.choice(SEP_MAIN)
    return f"{rng.choice(MAIN)}[B] and [A] {act}{sep}[B] {tr} [A]"


def check_held_out():
    """the generator's pieces contain none of the held-out words and structures"""
    pieces = SUBORDINATE + MAIN + ACTIVITIES + SEP_MAIN + TRANSFERS
    train_wang = [WANG[i] for i in range(len(WANG)) if i not in HELD_OUT]
    for w in HELD_OUT_WORDS:
        pat = re.compile(r"(^|\W)" + re.escape(w) + r"($|\W)")
        bad = [p for p in pieces + train_wang if pat.search(p)]
        assert not bad, (w, bad)
    for i in HELD_OUT:
        assert any(re.search(r"(^|\W)" + re.escape(w) + r"($|\W)", WANG[i]) for w in HELD_OUT_WORDS), WANG[i]
    for p in PARAPHRASES:
        assert any(re.search(r"(^|\W)" + re.escape(w) + r"($|\W)", p) for w in HELD_OUT_WORDS), p


def train_ioi(rng, names, initial=0.0):
    """one training prompt: (text, " IO", " S")"""
    if rng.random() < 0.3:
        tpl = WANG[rng.choice([i for i in range(len(WANG)) if i not in HELD_OUT])]
    else:
        tpl = generated_template(rng, initial)
    io, s = rng.sample(names, 2)
    return ioi_text(tpl, io, s, rng.choice(PLACES), rng.choice(OBJECTS), rng.random() < 0.5)


def wang_all(seed=7, per=1):
    """every one of Wang's 15 templates with every one of the 99 names as the answer, BABA and ABBA
    alternating, the subject, place and object drawn at random: 15 * 99 * per prompts"""
    rng = random.Random(seed)
    out = []
    for t, tpl in enumerate(WANG):
        for r in range(per):
            for j, io in enumerate(WANG_NAMES):
                s = rng.choice([n for n in WANG_NAMES if n != io])
                text, a, b = ioi_text(tpl, io, s, rng.choice(WANG_PLACES), rng.choice(WANG_OBJECTS), (j + r + t) % 2 == 1)
                out.append({"prompt": text, "answer": a, "wrong": b, "template": t})
    return out


def _rotated(templates, seed, n, places, objects):
    """n prompts: the templates (index, text) in turn, BABA for the first round, ABBA for the next, and so on;
    names from Wang's 99, places and objects drawn"""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        t, tpl = templates[i % len(templates)]
        io, s = rng.sample(WANG_NAMES, 2)
        text, a, b = ioi_text(tpl, io, s, rng.choice(places), rng.choice(objects), (i // len(templates)) % 2 == 1)
        out.append({"prompt": text, "answer": a, "wrong": b, "template": t})
    return out


def held_out_templates(seed=8, n=400):
    return _rotated([(t, WANG[t]) for t in HELD_OUT], seed, n, WANG_PLACES, WANG_OBJECTS)


def paraphrases(seed=9, n=400):
    return _rotated(list(enumerate(PARAPHRASES)), seed, n, PLACES, OBJECTS)


def demo():
    return [{"prompt": p, "answer": a, "wrong": w} for p, a, w in DEMO]


def induction_seqs(seed=10, n=200, k=12):
    """BOS + k tokens from the whole vocabulary + the same k again"""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        seq = rng.sample(range(EOT), k)
        out.append([EOT] + seq + seq)
    return out


def induction_example(encoder, seed=3, k=7, shown=4):
    """The page's induction example: k tokens drawn at random from the whole vocabulary among the
    readable ones (a space and 3 to 9 lowercase letters, so the text round-trips to the same tokens),
    then the first `shown` of them again; the answer is the next one. The corrupted prompt has
    another random token in its place in the first copy, which becomes the wrong answer."""
    words = sorted(t for t in encoder if re.fullmatch("\u0120[a-z]{3,9}", t))
    rng = random.Random(seed)
    seq = [w.replace("\u0120", " ") for w in rng.sample(words, k + 1)]
    seq, other = seq[:k], seq[k]
    clean = "".join(seq + seq[:shown])
    corrupt = "".join(seq[:shown] + [other] + seq[shown + 1:] + seq[:shown])
    return {"kind": "induction", "clean": clean, "corrupt": corrupt, "answer": seq[shown], "wrong": other}

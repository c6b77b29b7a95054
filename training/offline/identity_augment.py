"""Our own non-toxic sentences that mention identity groups (training augmentation against identity bias).

Toxicity training data mentions "gay", "muslim", "black" mostly inside attacks, so a bag-of-words model learns
the identity word itself as toxic. These sentences, written for this project (not taken from any evaluation
set), show the same words in civil, everyday and news-comment contexts with a non-toxic label.
"""

from __future__ import annotations

import random
import re

# (adjective form, plural group noun). Written for this project; broader than any one test set on purpose.
IDENTITIES: list[tuple[str, str]] = [
    ("gay", "gay people"),
    ("lesbian", "lesbians"),
    ("bisexual", "bisexual people"),
    ("queer", "queer people"),
    ("transgender", "transgender people"),
    ("trans", "trans people"),
    ("nonbinary", "nonbinary people"),
    ("LGBT", "LGBT people"),
    ("LGBTQ", "LGBTQ folks"),
    ("homosexual", "homosexual people"),
    ("straight", "straight people"),
    ("heterosexual", "heterosexual couples"),
    ("Muslim", "Muslims"),
    ("Islamic", "Islamic scholars"),
    ("Jewish", "Jews"),
    ("Christian", "Christians"),
    ("Catholic", "Catholics"),
    ("Protestant", "Protestants"),
    ("Hindu", "Hindus"),
    ("Sikh", "Sikhs"),
    ("Buddhist", "Buddhists"),
    ("atheist", "atheists"),
    ("Mormon", "Mormons"),
    ("Taoist", "Taoists"),
    ("black", "black people"),
    ("white", "white people"),
    ("African American", "African Americans"),
    ("African", "Africans"),
    ("Asian", "Asians"),
    ("Asian American", "Asian Americans"),
    ("Latino", "Latinos"),
    ("Latina", "Latinas"),
    ("Hispanic", "Hispanics"),
    ("Mexican", "Mexicans"),
    ("Arab", "Arabs"),
    ("Middle Eastern", "Middle Eastern families"),
    ("Indian", "Indians"),
    ("Pakistani", "Pakistanis"),
    ("Afghan", "Afghans"),
    ("Iranian", "Iranians"),
    ("Iraqi", "Iraqis"),
    ("Syrian", "Syrians"),
    ("Somali", "Somalis"),
    ("Nigerian", "Nigerians"),
    ("Chinese", "Chinese people"),
    ("Japanese", "Japanese people"),
    ("Korean", "Koreans"),
    ("Vietnamese", "Vietnamese people"),
    ("Filipino", "Filipinos"),
    ("European", "Europeans"),
    ("American", "Americans"),
    ("Canadian", "Canadians"),
    ("Russian", "Russians"),
    ("Palestinian", "Palestinians"),
    ("Israeli", "Israelis"),
    ("Indigenous", "Indigenous people"),
    ("Native American", "Native Americans"),
    ("immigrant", "immigrants"),
    ("refugee", "refugees"),
    ("female", "women"),
    ("male", "men"),
    ("feminist", "feminists"),
    ("disabled", "disabled people"),
    ("deaf", "deaf people"),
    ("blind", "blind people"),
    ("autistic", "autistic people"),
    ("elderly", "elderly people"),
    ("old", "older people"),
    ("young", "young people"),
    ("teenage", "teenagers"),
    ("millennial", "millennials"),
]

# {a}: adjective form, {p}: plural group. Civil statements in several registers, written for this project.
TEMPLATES: list[str] = [
    "I am {a}.",
    "I'm {a} and proud of my family.",
    "As a {a} person, I think the council got this right.",
    "My neighbour is {a} and she helped us move last weekend.",
    "{p} live here too.",
    "There are many {p} in our town.",
    "{p} have lived in this city for generations.",
    "The article quotes two {a} business owners.",
    "Our new doctor is {a}.",
    "My best friend is {a}.",
    "{p} deserve the same rights as everyone else.",
    "The survey asked {p} about housing costs.",
    "I grew up with {a} classmates.",
    "The school hired a {a} teacher this year.",
    "{p} are part of this community.",
    "Is the new mayor {a}?",
    "She wrote a book about {a} history.",
    "The festival celebrated {a} culture with food and music.",
    "Many {p} work in healthcare.",
    "The report looks at how {p} vote.",
    "My grandparents were {a}.",
    "He is {a}, and he coaches my son's team.",
    "We welcomed {a} families to the neighbourhood.",
    "The panel included {a} students.",
    "Being {a} is just one part of who you are.",
    "{p} volunteer at the food bank every Saturday.",
    "The museum has a new exhibit on {a} artists.",
    "I read a good interview with {a} parents.",
    "{a} people live here.",
    "I know several {p} who agree with the budget.",
    "The bill would affect {p} and everyone else equally.",
    "My colleague is {a} and very funny.",
    "The poll found that {p} care most about jobs and healthcare.",
    "Our church invited {p} to the dinner.",
    "The city has a large {a} population.",
    "They are {a}.",
    "We are {a}.",
    "You are {a}.",
    "Thank you to the {a} nurses who looked after my mother.",
    "The {a} community organised a cleanup.",
    "Why does the article mention that he is {a}?",
    "{p} pay taxes like everybody else.",
    "The story is about a {a} family starting a bakery.",
    "I disagree with the columnist, and I am {a}.",
]


def _sentence(template: str, adjective: str, plural: str) -> str:
    sentence = template.format(a=adjective, p=plural)
    return sentence[0].upper() + sentence[1:]


def identity_sentences(seed: int = 0, per_identity: int = 12) -> list[str]:
    """A deterministic sample of `per_identity` sentences per identity (different templates for each)."""
    rng = random.Random(seed)
    return [
        _sentence(template, adjective, plural)
        for adjective, plural in IDENTITIES
        for template in rng.sample(TEMPLATES, k=min(per_identity, len(TEMPLATES)))
    ]


def every_identity_sentence() -> list[str]:
    """Every template with every identity, template by template (3,124 sentences): the identity hate head's
    civil counterweight (`training.offline.heads`)."""
    return [_sentence(t, adjective, plural) for t in TEMPLATES for adjective, plural in IDENTITIES]


# Words that only name a group. Not in the list: words that are also the group noun of a template ("people").
_GENERIC = {"people", "folks", "families", "couples", "scholars"}
# Gendered pronouns too: Jigsaw/Civil Comments attacks on women made "she" alone look toxic.
EXTRA_IDENTITY_WORDS = {
    "she",
    "her",
    "he",
    "him",
    "his",
    "woman",
    "women",
    "man",
    "men",
    "jew",
    "gays",
    "lesbian",
    "muslim",
    "christian",
    "hindu",
    "sikh",
    "buddhist",
    "immigrant",
    "refugee",
    "homosexuals",
    "blacks",
    "whites",
    "latinx",
    "middle",
    "eastern",
    "millenial",
    "paralyzed",
    "wheelchair",
}


def identity_words() -> set[str]:
    """Lower-case single words naming identity groups (from `IDENTITIES` plus common inflections)."""
    words = set(EXTRA_IDENTITY_WORDS)
    for adjective, plural in IDENTITIES:
        words.update(adjective.lower().split())
        words.update(plural.lower().split())
    return words - _GENERIC


# Counterfactual group swaps (`swap_groups`): the identity hate head's positives that name a group, copied
# with the group replaced by others, so that it learns what a sentence says about a group, not which group.
# Words of `IDENTITIES` too common in another sense to be read as a group ("old news", "a straight
# answer", "blind faith"); their plural group nouns ("older people") are still read, and every identity can
# be a target.
AMBIGUOUS_GROUP_WORDS = frozenset({"old", "young", "straight", "blind"})


def _group_forms() -> dict[str, tuple[int, int]]:
    """Lower-case form -> (index in `IDENTITIES`, 0 for the adjective form, 1 for the plural group)."""
    forms: dict[str, tuple[int, int]] = {}
    for i, (adjective, plural) in enumerate(IDENTITIES):
        if adjective.lower() not in AMBIGUOUS_GROUP_WORDS:
            forms.setdefault(adjective.lower(), (i, 0))
        forms.setdefault(plural.lower(), (i, 1))
    return forms


_FORMS = _group_forms()
# Longest first, so that "African Americans" is one mention, not "African" followed by a word.
_GROUP_PATTERN = re.compile(
    r"(?<!\w)(" + "|".join(re.escape(f) for f in sorted(_FORMS, key=len, reverse=True)) + r")(?!\w)",
    re.IGNORECASE,
)
_ARTICLE_BEFORE = re.compile(r"(?<!\w)(a|an)(\s+)$", re.IGNORECASE)


def named_groups(text: str) -> list[int]:
    """Indexes in `IDENTITIES` of the groups `text` names (sorted, each once)."""
    return sorted({_FORMS[m.group(0).lower()][0] for m in _GROUP_PATTERN.finditer(text)})


def _cased(new: str, old: str, canonical: str, lower_text: bool) -> str:
    """`new` written the way `old` is: in a text with no capital letter (HateXplain) in lower case, shouted in
    upper case, capitalised at the start of a sentence; otherwise as `IDENTITIES` writes it."""
    if lower_text:
        return new.lower()
    if old != canonical and old.isupper() and len(old) > 1:
        return new.upper()
    if old[0].isupper():
        return new[0].upper() + new[1:]
    return new


def article_for(article: str, following: str) -> str:
    """``article`` ("a" or "an", in its case) made to agree with the word ``following`` it."""
    vowel = following[:1].lower() in "aeiou" and not following.lower().startswith(("eu", "uni"))
    word = "an" if vowel else "a"
    if article.isupper() and len(article) > 1:
        return word.upper()
    return word.capitalize() if article[0].isupper() else word


def swap_group(text: str, source: int, target: int) -> str:
    """`text` with every mention of group `source` (index in `IDENTITIES`) replaced by group `target`,
    adjective form for adjective form and plural group for plural group, in the mention's case ("a"/"an"
    agree)."""
    out: list[str] = []
    last = 0
    lower_text = not any(ch.isupper() for ch in text)
    for m in _GROUP_PATTERN.finditer(text):
        index, kind = _FORMS[m.group(0).lower()]
        if index != source:
            continue
        new = _cased(IDENTITIES[target][kind], m.group(0), IDENTITIES[source][kind], lower_text)
        before = text[last : m.start()]
        if article := _ARTICLE_BEFORE.search(before):
            before = before[: article.start()] + article_for(article.group(1), new) + article.group(2)
        out += [before, new]
        last = m.end()
    out.append(text[last:])
    return "".join(out)


def swap_groups(text: str, copies: int, seed: int = 0) -> list[str]:
    """Up to `copies` copies of `text`, each with one group it names (`named_groups`) replaced by another
    group of `IDENTITIES` that the text does not name, no target twice; [] when it names none. Seeded by
    `seed` and the text itself, so a row gets the same copies whatever else is in the training set."""
    named = named_groups(text)
    if not named or copies <= 0:
        return []
    rng = random.Random(f"{seed}\0{text}")
    others = [i for i in range(len(IDENTITIES)) if i not in named]
    return [
        swap_group(text, rng.choice(named), target)
        for target in rng.sample(others, k=min(copies, len(others)))
    ]

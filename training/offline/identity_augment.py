"""Our own non-toxic sentences that mention identity groups (training augmentation against identity bias).

Toxicity training data mentions "gay", "muslim", "black" mostly inside attacks, so a bag-of-words model learns
the identity word itself as toxic. These sentences, written for this project (not taken from any evaluation
set), show the same words in civil, everyday and news-comment contexts with a non-toxic label.
"""

from __future__ import annotations

import random

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

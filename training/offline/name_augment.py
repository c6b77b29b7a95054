"""Our own civil sentences that name a person (training augmentation against name bias).

The identity hate head of the second stage reads sentence vectors, and the encoder puts a rare given name near
the groups it is common in. Measured on 4db15932 (2026-12-05): "<name> is a kind Muslim" scored
identity_attack 0.51 with one name and 0.09 with another, and with every person's name in the civil bias
madlibs set to one name, the civil sentences held fell from 194 to 28 of 4,440. White-supremacist training
text uses some given names as caricatures of a group, so the head learned the name as the attack.

These sentences, written for this project, name people from many places in civil news-comment contexts,
with and without a group, as identity_attack negatives (`training.offline.heads`, `HeadsConfig.
name_sentences_weight`). A fixed fifth of the names (by a hash) and the `MEASURED_TEMPLATES` are never trained
on: the workload benchmark measures them (`our_measured_names`), so the weight is chosen on names and
sentences the head never saw. No name of the bias madlibs evaluation set is here (a test checks), so its
per-name figures stay blind.
"""

from __future__ import annotations

import hashlib
import random
import re

from training.offline.identity_augment import AMBIGUOUS_GROUP_WORDS, IDENTITIES, article_for

# Given names from many places, written for this project; none is one of the bias madlibs' names.
NAMES: list[str] = [
    # Pakistan, Afghanistan, India, Bangladesh, Sri Lanka
    "Imran", "Ayesha", "Tariq", "Bilal", "Hamid", "Naveed", "Wasim", "Zainab", "Shazia", "Farhan", "Usman",
    "Saima", "Asif", "Nadia", "Junaid", "Mehwish", "Gulalai", "Zarmina", "Wazir", "Rahmatullah", "Hekmat",
    "Shabnam", "Khalida", "Noorullah", "Fawad", "Sana", "Hina", "Rizwan", "Kamran", "Gurpreet", "Harjit",
    "Manpreet", "Arjun", "Priya", "Rahul", "Sanjay", "Deepika", "Lakshmi", "Venkatesh", "Sunita", "Ravi",
    "Anil", "Tahmina", "Rafiq", "Nasrin", "Dilshan", "Kavitha", "Mukhtiar", "Akhtar", "Bakhtiar",
    # Arab world, Iran, Turkey, Kurdistan
    "Omar", "Khalid", "Yusuf", "Mustafa", "Fatima", "Layla", "Hassan", "Hussein", "Rania", "Samir", "Nour",
    "Tarek", "Dalia", "Amir", "Reza", "Parisa", "Dariush", "Shirin", "Mehmet", "Elif", "Emre", "Zozan",
    "Hamza", "Karim", "Rashid", "Ahmed", "Ali", "Mumtaz", "Farid",
    # Africa and the African diaspora
    "Kwame", "Chinedu", "Oluwaseun", "Adebayo", "Tendai", "Amara", "Ngozi", "Chiamaka", "Kofi", "Abena",
    "Thabo", "Nomvula", "Wanjiru", "Kipchoge", "Abdirahman", "Hodan", "Ifeoma", "Obinna", "Sekou", "Aminata",
    "Jamal", "Tyrone", "DeShawn", "Lakisha", "Latoya", "Darnell", "Imani", "Keisha", "Malik", "Tanisha",
    "Jermaine", "Shanice",
    # East and Southeast Asia
    "Wei", "Kenji", "Nguyen", "Thanh", "Minh", "Mei", "Jun", "Haruto", "Yuki", "Seo-yeon", "Ji-ho",
    "Somchai", "Ploy", "Rizal", "Siti", "Putri",
    # Europe, the Americas, Israel
    "Olga", "Dmitri", "Siobhan", "Aoife", "Emily", "James", "Sarah", "David", "Michael", "Oliver",
    "Charlotte", "Hans", "Ingrid", "Pierre", "Giulia", "Marek", "Agnieszka", "Sean", "Niamh", "Fiona",
    "Carlos", "Lucía", "Alejandro", "Valentina", "Diego", "Camila", "Jorge", "Ximena", "Moshe", "Yitzhak",
    "Miriam", "Avi", "Shira", "Eli",
]  # fmt: skip

# {n}: a name, {a}: a group's adjective form, {p}: its plural. Civil, in a news-comment register. The head
# trains on TEMPLATES; MEASURED_TEMPLATES are only measured (`measured_sentences`).
TEMPLATES: list[str] = [
    "{n} is my neighbour.",
    "{n} wrote a thoughtful letter to the editor.",
    "I agree with {n} about the budget.",
    "{n} is right, the council should publish the figures.",
    "Thanks {n}, that is a fair point.",
    "My colleague {n} reads this paper every morning.",
    "{n} has a point about housing costs.",
    "I met {n} at the library last week.",
    "{n} coached my daughter's football team.",
    "Well said, {n}.",
    "{n} is {a} and volunteers at the food bank.",
    "Our new teacher, {n}, is {a}.",
    "{n} is a proud {a} grandmother.",
    "As {n} said, {p} pay taxes like everyone else.",
    "{n} and her {a} friends organised the cleanup.",
    "{n} was elected to the school board.",
    "{n} is {a}, and so am I.",
    "I think {n} made a good argument in the comments.",
    "{n} is {a} and works at the hospital.",
    "Congratulations to {n} on the new job.",
    "{n} told the reporter the bus service has improved.",
    "{n}'s family has run the corner shop for thirty years.",
    "{n} is a good man.",
    "{n} is my friend.",
    "{n} is {a}.",
    "{n} is a {a} doctor.",
    "{n} is right.",
    "{n} is a brave woman.",
    "{n} is {a} and a good neighbour.",
    "{n} is a {a} engineer and a good father.",
]
MEASURED_TEMPLATES: list[str] = [
    "{n} runs the bakery on our street.",
    "I disagree with {n}, but it was a civil argument.",
    "{n} lives two doors down from us.",
    "Mr {n} answered every question at the hearing.",
    "{n}, a {a} nurse, spoke at the meeting.",
    "{n}, who is {a}, chairs the residents' association.",
    "The {a} community thanked {n} for the fundraiser.",
    "Ask {n}, she is {a} and knows the planning rules better than anyone.",
    "{n} is a kind person.",
    "{n} is an honest woman.",
    "{n} is {a} and proud of it.",
    "{n} is a {a} teacher.",
    "{n} is a {a} mother of three.",
]


def _held_out(item: str, share: int = 5) -> bool:
    """Whether `item` is in the measured part (one in `share`, by a hash: stable across runs and versions)."""
    return int(hashlib.sha256(item.encode("utf-8")).hexdigest(), 16) % share == 0


def split_names() -> tuple[list[str], list[str]]:
    """(training names, measured names)."""
    return [n for n in NAMES if not _held_out(n)], [n for n in NAMES if _held_out(n)]


def _groups() -> list[tuple[str, str]]:
    return [(a, p) for a, p in IDENTITIES if a.lower() not in AMBIGUOUS_GROUP_WORDS]


def _sentence(template: str, name: str, group: tuple[str, str]) -> str:
    adjective, plural = group
    sentence = _ARTICLE.sub(
        lambda m: article_for(m.group(1), m.group(3)) + m.group(2) + m.group(3),
        template.format(n=name, a=adjective, p=plural),
    )
    return sentence[0].upper() + sentence[1:]


# An article and the word after it, made to agree as the group swaps do ("a Israeli" -> "an Israeli").
_ARTICLE = re.compile(r"\b([Aa])(\s+)(\w+)")


def name_sentences(names: list[str], templates: list[str], per_name: int = 12, seed: int = 0) -> list[str]:
    """`per_name` sentences for each name (different templates; a group drawn for those that name one),
    deterministic for a seed."""
    rng = random.Random(seed)
    groups = _groups()
    return [
        _sentence(template, name, rng.choice(groups))
        for name in names
        for template in rng.sample(templates, k=min(per_name, len(templates)))
    ]


def training_sentences(per_name: int = 12, seed: int = 0) -> list[str]:
    """The sentences the head trains on: training names in training templates."""
    return name_sentences(split_names()[0], TEMPLATES, per_name, seed)


# The groups the measured sentences name: the ones a political story draws comments about, and a few others.
MEASURED_GROUPS: list[str] = ["Muslim", "Afghan", "Pakistani", "Arab", "black", "Jewish", "gay", "Christian"]


def measured_sentences() -> tuple[list[str], list[str]]:
    """(sentences, the name each is about): every measured name in every measured template, those that name a
    group once with each of `MEASURED_GROUPS`, so that names are compared on the same sentences."""
    plural = dict(IDENTITIES)
    texts, who = [], []
    for name in split_names()[1]:
        for template in MEASURED_TEMPLATES:
            groups = MEASURED_GROUPS if "{a}" in template or "{p}" in template else MEASURED_GROUPS[:1]
            for adjective in groups:
                texts.append(_sentence(template, name, (adjective, plural[adjective])))
                who.append(name)
    return texts, who

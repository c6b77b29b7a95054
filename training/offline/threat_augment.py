"""Our own threat sentences, and civil sentences in the same violent vocabulary (training augmentation for the
threat head).

The threat label's training rows are Jigsaw's and Civil Comments' (about 150 positives after the split), most
of them wishes of harm in Wikipedia quarrels ("I will kill you"). The threats a news desk must catch are
plainer and more specific: a named official, an address, a date, a place of worship ("I know where you
live", "someone should put a bullet in him", "the next bus will be burned"). The threat head, a logistic
regression on the encoder's sentence vectors, scored such threats below 0.05 (2026-12-05). Measured as
training rows for that head (`heads --threat-sentences`) and for the encoder's layers (`restage
--threat-sentences`): neither shipped (model card, "Identity hate and threats").

These sentences are composed from parts written for this project, not taken from any evaluation set
(`training.offline.heads` drops any that match an evaluation text): who speaks (I, we, someone should, they
will be ...), the act, the target (a person or a role: never an identity group, so that naming a group does
not become a threat cue), and what makes it real (a time, a place, knowing where someone lives). The
negatives use the same verbs in what news comments say without threatening anyone: idioms ("kill the
bill", "shot down the proposal"), reporting and condemning threats and violence, history and policy.
"""

from __future__ import annotations

import random

# Targets: people and roles a news story names. Never an identity group (see the module docstring).
TARGETS = [
    "the mayor",
    "the judge",
    "that judge",
    "the minister",
    "the health minister",
    "the councillor",
    "that reporter",
    "the journalist who wrote this",
    "the editor",
    "the referee",
    "the coach",
    "the senator",
    "the governor",
    "the prosecutor",
    "the landlord",
    "the police chief",
    "the officer who did this",
    "the head teacher",
    "the bishop",
    "the inspector",
    "the MP for this town",
    "the developer",
    "the union boss",
    "the chairman",
    "the protesters",
    "those activists",
    "the candidate",
    "the president",
    "the lawyer who defended him",
    "the witness",
    "Councillor Patel",
    "Judge Moreno",
    "Senator Collins",
    "Mr Okafor",
    "Ms Lindqvist",
    "Dr Harrow",
    "Mayor Brennan",
    "Tom Reyes",
    "that woman",
    "that man",
    "his wife",
    "her kids",
    "your family",
]

# Threats to the reader addressed: {act_you} is the act done to "you", {done} its participle.
SECOND_PERSON = [
    "I will {act_you}.",
    "I'm going to {act_you} and your whole family.",
    "You're going to get {done}, and you won't see it coming.",
    "You will be {done}. Count on it.",
    "I know where you live.",
    "I know where you live and where you work.",
    "We know your address and your car.",
    "Keep writing this and you'll be {done}.",
    "You'll be the first one we come for.",
    "Say that to my face and I'll {act_you}.",
    "Delete this or you'll be {done} by the weekend.",
    "You won't see next week.",
    "Come to the rally tomorrow and we will {act_you}.",
]

# (the act done to {x}, its past participle) of acts of violence against a person.
ACTS = [
    ("kill {x}", "killed"),
    ("shoot {x}", "shot"),
    ("stab {x}", "stabbed"),
    ("hang {x}", "hanged"),
    ("strangle {x}", "strangled"),
    ("beat {x} to death", "beaten to death"),
    ("beat {x} senseless", "beaten senseless"),
    ("run {x} over", "run over"),
    ("burn {x} alive", "burned alive"),
    ("set {x} on fire", "set on fire"),
    ("put a bullet in {x}", "shot in the head"),
    ("slit the throat of {x}", "butchered"),
    ("break the legs of {x}", "crippled"),
    ("smash the skull of {x}", "smashed to pieces"),
    ("gut {x}", "gutted like a fish"),
    ("execute {x}", "executed"),
    ("lynch {x}", "lynched"),
    ("hunt {x} down", "hunted down"),
    ("drown {x}", "drowned"),
    ("bury {x} in the woods", "buried in the woods"),
    ("blow {x} up", "blown up"),
    ("knife {x}", "knifed"),
    ("kick the teeth out of {x}", "kicked to death"),
    ("torture {x}", "tortured"),
]

# Everyday acts in the same slots: the civil twins of the threat frames, so that the head learns the act and
# not the frame ("the judge will be ...", "someone should ... the mayor").
BENIGN_ACTS = [
    ("email {x}", "emailed"),
    ("vote against {x}", "voted out"),
    ("write to {x}", "re-elected"),
    ("interview {x}", "interviewed"),
    ("sue {x}", "sued"),
    ("report {x} to the ombudsman", "investigated"),
    ("thank {x}", "thanked"),
    ("call the office of {x}", "called to testify"),
    ("campaign against {x}", "replaced"),
    ("complain about {x}", "held to account"),
    ("challenge {x} to a debate", "challenged in court"),
    ("ask {x} about the budget", "asked to resign"),
    ("fact-check {x}", "fact-checked"),
    ("invite {x} to the meeting", "invited to speak"),
    ("petition {x}", "questioned by the committee"),
    ("support {x}", "promoted"),
]

# First-person or collective intent: {act} is the act done to the target, {act_them} to "them".
INTENT = [
    "I am going to {act}.",
    "I'm going to {act}, I swear.",
    "I will {act}.",
    "I'll {act} myself.",
    "We will {act}.",
    "We're going to {act}.",
    "I swear to god I will {act}.",
    "Next time I see {target} I will {act_them}.",
    "One of these days I'm going to {act}.",
    "Mark my words, I will {act}.",
    "Give me five minutes alone and I'll {act}.",
    "I'd happily {act} and do the time.",
    "If {target} shows up here again, I'll {act_them}.",
    "Wait until {target} comes out of the court, then we {act_them}.",
    "Me and the lads are going to {act}.",
    "Tomorrow we {act}.",
    "I have a gun and I will {act}.",
    "I'll be waiting outside to {act}.",
]

# Incitement: someone else should do it.
INCITEMENT = [
    "Someone should {act}.",
    "Somebody needs to {act}.",
    "Someone needs to {act} before it's too late.",
    "Who is going to {act}? Any volunteers?",
    "Find {target} and {act_them}.",
    "Go to their house and {act}.",
    "Let's {act}. Who's with me?",
    "I hope someone finds {target} and does the world a favour.",
    "Just {act} already.",
    "Anyone who meets {target} in the street knows what to do.",
]

# Passive: {target} will be / should be {done}.
PASSIVE = [
    "{target} should be {done}.",
    "{target} will be {done}.",
    "{target} deserves to be {done}, and soon.",
    "{target} is going to get {done}.",
    "{target} will end up {done}, just watch.",
    "Soon {target} will be {done}.",
    "{target} should be dragged out and {done}.",
    "Mark my words, {target} will be {done} before the election.",
]

# Intimidation without a verb of violence: knowing where, watching, warning.
INTIMIDATION = [
    "I know where {target} lives.",
    "We know where {target} lives and we know the car.",
    "We know where your kids go to school, {target}.",
    "{target}, we know your address. Think carefully.",
    "Watch your back, {target}.",
    "{target} won't live to see the end of the year.",
    "{target} had better start checking under the car.",
    "Tell {target} we're coming for them.",
    "We are coming for {target} and everyone who helped.",
    "{target} has been warned. Next time it won't be a letter.",
    "Keep talking, {target}, and see what happens to your family.",
    "There's a bullet with the name of {target} on it.",
    "{target} will pay for this with blood.",
    "We will find {target}. We always do.",
    "Sleep with one eye open, {target}.",
    "Enjoy your last week, {target}.",
    "{target} is a dead man walking.",
]

# What civil, heated comments say about the same people without menace: the twins of the intimidation frames.
PRESSURE = [
    "I know where {target} stands on this.",
    "We know what {target} voted for and we will remember it.",
    "We know where {target} got the figures from, and it's not the census.",
    "{target}, we read your statement. Think carefully before the vote.",
    "Watch what {target} does next.",
    "{target} won't last to the end of the year in that job.",
    "{target} had better start answering questions.",
    "Tell {target} we're coming to the public meeting.",
    "We are coming for the seat of {target} at the next election.",
    "{target} has been warned by the auditors. Next time it will be a fine.",
    "Keep talking, {target}, and see how the voters react.",
    "{target} will pay for this at the ballot box.",
    "We will find out what {target} knew. We always do.",
    "Good luck defending that in court, {target}.",
    "Enjoy your retirement, {target}.",
    "{target} is a lame duck now.",
]

# Threats against a place, with the people in it.
PLACES = [
    "the mosque",
    "the synagogue",
    "the church on Station Road",
    "the council offices",
    "the newspaper's office",
    "the police station",
    "the hostel where they put them",
    "the clinic",
    "the school",
    "the town hall",
    "the courthouse",
    "the hotel housing them",
]
PLACE_THREATS = [
    "{place} is going to burn, with them inside.",
    "We will burn down {place} this weekend.",
    "Someone should torch {place} while it's full.",
    "{place} will go up in flames on Friday. Consider this your warning.",
    "There will be a bomb in {place} before the vote.",
    "Anyone inside {place} on Sunday will not come out alive.",
    "We're going to blow {place} sky high.",
    "Petrol and a match, that's what {place} is getting.",
]

PLACE_CIVIL = [
    "{place} is going to reopen next month.",
    "We will protest outside {place} this weekend, peacefully.",
    "Someone should fix the roof of {place} before winter.",
    "There will be a vigil at {place} on Friday. Everyone is welcome.",
    "There will be a public meeting in {place} before the vote.",
    "Anyone at {place} on Sunday can sign the petition.",
    "We're going to fill {place} with people who want answers.",
    "{place} will be packed for the hearing, mark my words.",
]

# Frames whose wording menaces whatever the act (or that have no act): they have no civil twin.
MENACING = (
    "I have a gun",
    "do the time",
    "Wait until",
    "Find {target}",
    "Go to their house",
    "dragged out",
    "five minutes alone",
    "I swear to god",
    "to my face",
    "knows what to do",
    "the world a favour",
    "Delete this or",
)

# Civil sentences in the same vocabulary: idioms, reporting, condemnation, history, policy.
ISSUES = [
    "the bill",
    "the budget",
    "the proposal",
    "the tax cut",
    "the merger",
    "the new tariff",
    "the housing plan",
    "the reform",
    "the deal",
    "this policy",
    "the amendment",
    "the stadium project",
]
IDIOMS = [
    "Time to kill {issue} once and for all.",
    "The committee shot down {issue} in ten minutes.",
    "The opposition will butcher {issue} with amendments.",
    "{issue} is dead in the water after today.",
    "The minister is going to get slaughtered over {issue}.",
    "Voters will crucify anyone who backs {issue}.",
    "{issue} is a ticking time bomb.",
    "The senate will bury {issue} quietly.",
    "The courts could strike down {issue}.",
    "{issue} got torpedoed by the backbenchers.",
    "The treasury took a beating on {issue}.",
    "{issue} blew up in the government's face.",
    "Let's put a bullet in {issue} and start again.",
    "The unions went nuclear over {issue}.",
    "The fact-check absolutely destroyed the case for {issue}.",
    "{issue} would be a death sentence for small shops.",
    "Whoever wrote {issue} should be fired, not promoted.",
    "I'd kill for a minister who actually read {issue}.",
    "The markets got murdered after {issue} was announced.",
    "{issue} was shot to pieces in the debate.",
    "They hung the minister out to dry over {issue}.",
    "The lobby will fight {issue} to the death.",
    "{issue} is a knife in the back of every renter.",
    "The speech was a killer blow for {issue}.",
]
REPORTING = [
    "Police say the suspect shot two people before he was arrested.",
    "{target} received death threats after the ruling, which is disgraceful.",
    "Threatening to burn down a mosque is a crime and should be prosecuted.",
    "Nobody deserves to be threatened for doing their job, including {target}.",
    "The man who stabbed the guard was sentenced to twelve years.",
    "The article says {target} was told 'we know where you live'. That's horrifying.",
    "Whoever sent those threats to {target} needs to be found and charged.",
    "The inquiry heard that the officer fired six shots.",
    "Calls to hang politicians are not free speech, they are incitement.",
    "The report describes how the prisoners were tortured in that jail.",
    "{target} was attacked outside the court, and the police are investigating.",
    "If anyone threatens {target}, report it to the police straight away.",
    "The bomb went off at 9am and three people were killed.",
    "The family of the boy who was shot deserve answers from {target}.",
    "Violence against {target} or anyone else is never acceptable.",
    "The killer was caught on camera, according to the prosecutor.",
    "She survived being set on fire, and now she campaigns against domestic abuse.",
    "Lynching was used to terrorise whole communities, and schools should teach it.",
    "The riots burned down half the street, and nobody has rebuilt it.",
    "The army shelled the town for three days, the report says.",
    "The death penalty should be abolished, even for murderers.",
    "Executions in that country went up again last year.",
    "The hunting season opens next week, so keep dogs on a lead.",
    "The film ends with the hero shooting the villain, predictable as ever.",
    "My grandfather was shot down over France in 1943 and survived.",
    "The novel is about a detective hunting a serial killer.",
    "The referee was punched by a fan, who has now been banned for life.",
    "People who threatened {target} online were arrested this morning.",
    "Stabbings in the city have fallen for the third year running.",
    "{target} condemned the attack and visited the victims in hospital.",
]


def threat_sentences(seed: int = 0, n: int = 1200) -> list[str]:
    """`n` distinct threat sentences (fewer if the parts run out), deterministic for `seed`: each of a kind
    chosen at random (intent, incitement, passive, intimidation, against a place, to the reader), filled at
    random."""
    rng = random.Random(seed)
    kinds = [INTENT, INCITEMENT, PASSIVE, INTIMIDATION, PLACE_THREATS, SECOND_PERSON]
    makers = [lambda frames=frames: _filled(rng, frames, ACTS) for frames in kinds]
    return _distinct(makers, n, rng)


def _filled(rng: random.Random, frames: list[str], acts: list[tuple[str, str]]) -> str:
    act, done = rng.choice(acts)
    target = rng.choice(TARGETS)
    return rng.choice(frames).format(
        act=act.format(x=target),
        act_them=act.format(x="them"),
        act_you=act.format(x="you"),
        done=done,
        target=target,
        place=rng.choice(PLACES),
    )


def violent_civil_sentences(seed: int = 0, n: int = 1200) -> list[str]:
    """`n` distinct civil sentences in the threats' vocabulary or frames (fewer if the parts run out),
    deterministic for `seed`: idioms about issues; reporting or condemning violence and threats; and the
    threat frames' civil twins (an everyday act in the act's place, pressure without menace, a place without
    harm)."""
    rng = random.Random(seed + 1)
    twins = [[f for f in frames if not _menaces(f)] for frames in (INTENT, INCITEMENT, PASSIVE)]
    second = [f for f in SECOND_PERSON if ("{act_you}" in f or "{done}" in f) and not _menaces(f)]
    reported = [t for t in TARGETS if t not in ("her kids", "your family")]  # read oddly in the reports
    makers = [
        lambda: rng.choice(IDIOMS).format(issue=rng.choice(ISSUES)),
        lambda: rng.choice(REPORTING).format(target=rng.choice(reported)),
        *(lambda frames=frames: _filled(rng, frames, BENIGN_ACTS) for frames in twins),
        lambda: _filled(rng, second, BENIGN_ACTS),
        lambda: _filled(rng, PRESSURE, BENIGN_ACTS),
        lambda: _filled(rng, PLACE_CIVIL, BENIGN_ACTS),
    ]
    return _distinct(makers, n, rng)


def _menaces(frame: str) -> bool:
    return any(m in frame for m in MENACING)


def _distinct(makers, n: int, rng: random.Random) -> list[str]:
    out: list[str] = []
    seen: set[str] = set()
    misses = 0
    while len(out) < n and misses < 20 * n:
        text = rng.choice(makers)()
        text = text[0].upper() + text[1:]
        if text in seen:
            misses += 1
            continue
        seen.add(text)
        out.append(text)
    return out

#!/usr/bin/env python3
"""Build the embedded default dataset for the reasoning-retriever trainer.

Run from anywhere:  python data/build_dataset.py [--examples] [--no-news]
(with data/requirements.txt installed; writes data/*.parquet, tokenizer.json,
build_report.json and README.md next to this script in about 10 s)

Everything is read from the test data that the PyPI package `gensim` ships
inside its wheel (located through `gensim.__file__`); nothing is downloaded.

Task ("reasoning entity retrieval"): each query is a real sentence of a
Wikipedia article whose subject (the *entity*) has been masked out
("Alabama is ..." -> "This state is ...").  The gold reasoning trace names the
entity and one or two facts ("The mention of Montgomery points to Alabama, a
U.S. state in the southeastern United States."); the relevant documents are
*other* paragraphs of the same article, which do name the entity.  A retriever
that only matches words is lured by hard negatives (paragraphs of other
articles and news stories that share the most words with the query); one step
of reasoning (description -> entity name) bridges the gap.

Training also uses "clue-only" sentences that never name the entity but carry at
least two words specific to its article; dev/test queries are always masked
descriptions.

Splits: train / GRPO / dev / test queries are disjoint sentences.  Dev and test
queries come from paragraphs that no training query comes from, but describe
entities that the training queries also describe (so the mapping description
-> entity is learnable by a small model).  No query sentence appears in the
corpus, which is built from yet other paragraphs.

The script is deterministic: fixed seeds, sorted iteration, no set/dict-order
dependence, and pyarrow writes byte-identical files for identical input.
"""

from __future__ import annotations

import bz2
import hashlib
import json
import math
import os
import random
import re
import sys
import unicodedata
from collections import Counter, defaultdict

import gensim
import pyarrow as pa
import pyarrow.parquet as pq
import tokenizers
from gensim.corpora.wikicorpus import extract_pages, filter_wiki
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

SEED = 20250101
OUT_DIR = os.path.dirname(os.path.abspath(__file__))
TEST_DATA = os.path.join(os.path.dirname(gensim.__file__), "test", "test_data")
WIKI_FILES = [
    "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2",
    "enwiki-table-markup.xml.bz2",
]
NEWS_FILE = "lee_background.cor"
# sha256 of the inputs as shipped in gensim 4.4.0; a different gensim may ship other bytes
INPUT_SHA256 = {
    "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2":
        "a53f4648dec40467ebdcbc7a1307eddb51fe6e28e9309f6ebde81ba0d04bea2d",
    "enwiki-table-markup.xml.bz2": "81415636d4dc79c99147ee52098d9a1b1d977d5727543a81227d85ce5cca9383",
    "lee_background.cor": "5d78d6dafd953bbf65797bef09a9ffb9ec430583381be705f8fd460000f370fb",
}

# --- size knobs ------------------------------------------------------------
DOC_MIN_WORDS, DOC_MAX_WORDS = 35, 80
QUERY_MIN_WORDS, QUERY_MAX_WORDS = 12, 34
DOCS_PER_ENTITY = 10          # corpus paragraphs per entity (all relevant to it)
DISTRACTOR_DOCS_PER_ARTICLE = 30
DEV_PER_ENTITY = 2            # one query from each of two held-out paragraphs
TEST_PER_ENTITY = 2
TRAIN_CAP_PER_ENTITY = 80     # name-masked training queries per entity
IMPLICIT_CAP_PER_ENTITY = 40  # clue-only training queries per entity (see implicit_queries)
GRPO_EVERY = 7                # every 7th training candidate goes to the GRPO split
HARD_NEGATIVES = 5
ROW_GROUP_SIZE = 256
VOCAB_SIZE = 3000
SPECIAL_TOKENS = ["<pad>", "<eos>", "<embtoken>"]

# --- the entities ----------------------------------------------------------
# title -> (task, type noun, plural type noun, singular name variants,
#           plural name variants, leak stems, gloss)
# Name variants are masked in queries; a query that still contains a leak stem
# (prefix of any word, or a substring when it has a space) is discarded.
# Glosses paraphrase the article's own lead sentence.
E = {}


def ent(title, task, typ, types, names, plurals, leak, gloss, merge=()):
    E[title] = dict(title=title, task=task, type=typ, types=types, names=names,
                    plurals=plurals, leak=leak, gloss=gloss, merge=list(merge))


ent("Anarchism", "society", "political philosophy", "political philosophies", ["anarchism"], [],
    ["anarch"], "a political philosophy that advocates stateless, self-governed societies")
ent("Autism", "science", "disorder", "disorders", ["autism"], [],
    ["autis"], "a neurodevelopmental disorder that impairs social interaction and communication")
ent("Albedo", "science", "quantity", "quantities", ["albedo", "reflection coefficient"], ["albedos"],
    ["albedo"], "the diffuse reflectivity or reflecting power of a surface")
ent("Alabama", "place", "state", "states", ["Alabama"], [],
    ["alabam"], "a U.S. state in the southeastern United States")
ent("Achilles", "culture", "hero", "heroes", ["Achilles"], [],
    ["achill"], "the Greek hero of the Trojan War in Homer's Iliad")
ent("Abraham Lincoln", "person", "president", "presidents", ["Abraham Lincoln", "Lincoln"], [],
    ["lincoln", "abraham"], "the 16th President of the United States")
ent("Aristotle", "person", "philosopher", "philosophers", ["Aristotle"], [],
    ["aristot"], "the ancient Greek philosopher and scientist from Stagira")
ent("An American in Paris", "culture", "composition", "compositions", ["An American in Paris"], [],
    ["american in paris"], "a jazz-influenced symphonic poem by George Gershwin")
ent("Academy Awards", "culture", "awards ceremony", "awards ceremonies",
    ["Academy Awards", "Academy Award", "Oscars", "Oscar"], [],
    ["oscar", "academy award"], "the annual American awards for cinematic achievement, the Oscars")
ent("International Atomic Time", "science", "time standard", "time standards",
    ["International Atomic Time", "TAI"], [],
    ["atomic time", "tai"], "a high-precision atomic coordinate time standard")
ent("Altruism", "society", "principle", "principles", ["altruism", "selflessness"], [],
    ["altruis", "selfless"], "the principle of concern for the welfare of others")
ent("Ayn Rand", "person", "writer", "writers", ["Ayn Rand", "Rand"], [],
    ["rand"], "the Russian-born American novelist and philosopher")
ent("Algeria", "place", "country", "countries", ["Algeria", "People's Democratic Republic of Algeria"], [],
    ["alger"], "a North African country on the Mediterranean coast")
ent("Anthropology", "science", "discipline", "disciplines", ["anthropology"], [],
    ["anthropolog"], "the study of humans and their societies, past and present")
ent("Alchemy", "culture", "tradition", "traditions", ["alchemy"], [],
    ["alchem"], "the protoscientific tradition of purifying and transmuting metals")
ent("ASCII", "technology", "encoding", "encodings",
    ["ASCII", "US-ASCII", "American Standard Code for Information Interchange"], [],
    ["ascii"], "the character-encoding scheme for text in computers")
ent("Animation", "culture", "technique", "techniques", ["animation"], [],
    ["animat"], "the process of creating the illusion of motion from static images")
ent("Apollo", "culture", "god", "gods", ["Apollo"], [],
    ["apoll"], "the Olympian god of music, prophecy and healing")
ent("Andre Agassi", "person", "tennis player", "tennis players",
    ["Andre Kirk Agassi", "Andre Agassi", "Agassi"], [],
    ["agassi"], "the American tennis player and former world No. 1")
ent("Austroasiatic languages", "language", "language family", "language families",
    ["Austroasiatic languages", "Austroasiatic language family", "Austroasiatic", "Mon–Khmer", "Mon-Khmer"], [],
    ["austroasiatic", "mon–khmer", "mon-khmer"], "a large language family of mainland Southeast Asia")
ent("Afroasiatic languages", "language", "language family", "language families",
    ["Afroasiatic languages", "Afroasiatic language family", "Afroasiatic", "Afro-Asiatic", "Afrasian",
     "Hamito-Semitic"], [],
    ["afroasiatic", "afro-asiatic", "afrasian", "hamito"],
    "a large language family of North Africa and the Middle East")
ent("Andorra", "place", "country", "countries", ["Principality of Andorra", "Andorra"], [],
    ["andorr"], "a landlocked microstate in the eastern Pyrenees")
ent("Arithmetic mean", "science", "statistic", "statistics", ["arithmetic mean"], ["arithmetic means"],
    ["arithmetic mean"], "the sum of a collection of numbers divided by their count")
ent("American Football Conference", "culture", "conference", "conferences",
    ["American Football Conference", "AFC"], [],
    ["afc", "american football conference"], "one of the two conferences of the National Football League")
ent("Animal Farm", "culture", "novella", "novellas", ["Animal Farm"], [],
    ["animal farm"], "George Orwell's allegorical novella about a farm revolution")
ent("Amphibian", "nature", "vertebrate", "vertebrates", ["amphibian"], ["amphibians", "Amphibia"],
    ["amphibi"], "an ectothermic tetrapod vertebrate such as a frog or salamander")
ent("Alaska", "place", "state", "states", ["Alaska"], [],
    ["alask"], "the U.S. state in the northwest extremity of the Americas")
ent("Agriculture", "society", "practice", "practices", ["agriculture"], [],
    ["agricultur"], "the cultivation of animals, plants and fungi for food")
ent("Aldous Huxley", "person", "writer", "writers", ["Aldous Leonard Huxley", "Aldous Huxley", "Huxley"], [],
    ["huxley", "aldous"], "the English writer and philosopher of the Huxley family")
ent("Algae", "nature", "organism", "organisms", ["alga"], ["algae"],
    ["alga"], "the diverse photosynthetic organisms ranging from diatoms to seaweeds")
ent("Analysis of variance", "science", "statistical method", "statistical methods",
    ["analysis of variance", "ANOVA"], ["ANOVAs"],
    ["anova", "analysis of variance"], "statistical models that analyse differences among group means")
ent("Alkane", "science", "compound", "compounds", ["alkane", "paraffin"], ["alkanes", "paraffins"],
    ["alkan", "paraffin"], "a saturated hydrocarbon with only single bonds")
ent("Appellate procedure in the United States", "society", "procedure", "procedures",
    ["United States appellate procedure", "appellate procedure"], [],
    ["appellate procedure"], "the rules for filing appeals in U.S. state and federal courts")
ent("Arraignment", "society", "court proceeding", "court proceedings", ["arraignment"], ["arraignments"],
    ["arraign"], "the formal reading of criminal charges to a defendant")
ent("America the Beautiful", "culture", "song", "songs", ["America the Beautiful"], [],
    ["america the beautiful"], "an American patriotic song by Katharine Lee Bates and Samuel Ward")
ent("Assistive technology", "technology", "technology", "technologies", ["assistive technology"],
    ["assistive technologies"],
    ["assistive technolog"], "devices and adaptations that help people with disabilities")
ent("Abacus", "technology", "calculating tool", "calculating tools", ["abacus"], ["abacuses", "abaci"],
    ["abac"], "a counting frame used for arithmetic calculation")
ent("Acid", "science", "substance", "substances", ["acid"], ["acids"],
    ["acid"], "a chemical substance that tastes sour and donates protons")
ent("Asphalt", "technology", "material", "materials", ["asphalt", "bitumen"], [],
    ["asphalt", "bitum"], "a sticky, black and viscous form of petroleum")
ent("American National Standards Institute", "society", "organization", "organizations",
    ["American National Standards Institute", "ANSI"], [],
    ["ansi", "american national standards"], "the private non-profit body that oversees U.S. voluntary standards")
ent("Apollo 11", "science", "mission", "missions", ["Apollo 11"], [],
    ["apoll"], "the first spaceflight that landed humans on the Moon")
ent("Apollo 8", "science", "mission", "missions", ["Apollo 8"], [],
    ["apoll"], "the first crewed spacecraft to leave Earth orbit and orbit the Moon")
ent("Astronaut", "science", "space traveller", "space travellers", ["astronaut", "cosmonaut"],
    ["astronauts", "cosmonauts"],
    ["astronaut", "cosmonaut", "taikonaut"], "a person trained to command, pilot or crew a spacecraft")
ent("A Modest Proposal", "culture", "essay", "essays", ["A Modest Proposal"], [],
    ["modest proposal"], "Jonathan Swift's satirical essay of 1729")
ent("Alkali metal", "science", "element", "elements", ["alkali metal"], ["alkali metals"],
    ["alkali metal"], "a group-1 element such as lithium, sodium, potassium, rubidium or caesium")
ent("Alphabet", "language", "writing system", "writing systems", ["alphabet"], ["alphabets"],
    ["alphabet"], "a standard set of letters that represent phonemes")
ent("Atomic number", "science", "quantity", "quantities", ["atomic number"], ["atomic numbers"],
    ["atomic number"], "the number of protons in an atomic nucleus")
ent("Anatomy", "science", "branch of biology", "branches of biology", ["anatomy"], [],
    ["anatom"], "the study of the structure of organisms and their parts")
ent("Andrei Tarkovsky", "person", "film-maker", "film-makers",
    ["Andrei Arsenyevich Tarkovsky", "Andrei Tarkovsky", "Tarkovsky"], [],
    ["tarkovsk"], "the Soviet film-maker, writer and film theorist")
ent("Ambiguity", "language", "concept", "concepts", ["ambiguity"], ["ambiguities"],
    ["ambigu"], "the property of having more than one meaning")
ent("Aardvark", "nature", "mammal", "mammals", ["aardvark"], ["aardvarks"],
    ["aardvark"], "a burrowing, nocturnal mammal native to Africa")
ent("Aardwolf", "nature", "mammal", "mammals", ["aardwolf"], ["aardwolves"],
    ["aardwol"], "a small insectivorous mammal of East and Southern Africa")
ent("Adobe", "technology", "building material", "building materials", ["adobe"], [],
    ["adobe"], "a building material made from earth, often formed into mud bricks")
ent("Asia", "place", "continent", "continents", ["Asia"], [],
    ["asia"], "Earth's largest and most populous continent")
ent("Aruba", "place", "island", "islands", ["Aruba"], [],
    ["aruba"], "a constituent country of the Netherlands in the southern Caribbean")
ent("Articles of Confederation", "society", "agreement", "agreements",
    ["Articles of Confederation and Perpetual Union", "Articles of Confederation", "Articles"], [],
    ["confederation"], "the agreement of the thirteen original states that served as the first U.S. constitution")
ent("Atlantic Ocean", "place", "ocean", "oceans", ["Atlantic Ocean", "Atlantic"], [],
    ["atlantic"], "the world's second-largest ocean, between the Americas and Europe and Africa")
ent("Arthur Schopenhauer", "person", "philosopher", "philosophers", ["Arthur Schopenhauer", "Schopenhauer"], [],
    ["schopenhauer"], "the German philosopher of The World as Will and Representation")
ent("Angola", "place", "country", "countries", ["Republic of Angola", "Angola"], [],
    ["angol"], "a country in Southern Africa on the Atlantic coast",
    merge=["Demographics of Angola", "Politics of Angola", "Economy of Angola", "Transport in Angola",
           "Angolan Armed Forces", "Foreign relations of Angola"])
ent("Albert Sidney Johnston", "person", "general", "generals",
    ["Albert Sidney Johnston", "Albert S. Johnston", "Johnston"], [],
    ["johnston"], "the Confederate general killed at the Battle of Shiloh")
ent("Android (robot)", "technology", "robot", "robots", ["android"], ["androids"],
    ["android"], "a robot or synthetic organism designed to look and act like a human")
ent("Alberta", "place", "province", "provinces", ["Alberta"], [],
    ["albert"], "a western province of Canada")
ent("Actinopterygii", "nature", "fish", "fishes", ["Actinopterygii", "ray-finned fish"],
    ["ray-finned fishes"],
    ["actinopteryg", "ray-finned"], "the class of bony fishes whose fins are webs of skin on bony spines")
ent("Albert Einstein", "person", "physicist", "physicists", ["Albert Einstein", "Einstein"], [],
    ["einstein"], "the German-born theoretical physicist who developed general relativity")
ent("Afghanistan", "place", "country", "countries", ["Islamic Republic of Afghanistan", "Afghanistan"], [],
    ["afghan"], "a landlocked country in South and Central Asia")
ent("Albania", "place", "country", "countries", ["Republic of Albania", "Albania"], [],
    ["albani"], "a country in Southeastern Europe on the Adriatic and Ionian seas")
ent("Allah", "society", "name for God", "names for God", ["Allah"], [],
    ["allah"], "the Arabic word for God in Abrahamic religions")
ent("Azerbaijan", "place", "country", "countries", ["Republic of Azerbaijan", "Azerbaijan"], [],
    ["azerbaijan", "azeri"], "a Transcaucasian country on the Caspian Sea")
ent("Amateur astronomy", "science", "hobby", "hobbies", ["amateur astronomy"], [],
    ["amateur astronom"], "the hobby of observing the sky with the eye, binoculars or telescopes")
ent("Aikido", "culture", "martial art", "martial arts", ["aikido"], [],
    ["aikido"], "the modern Japanese martial art developed by Morihei Ueshiba")
ent("Art", "culture", "human activity", "human activities", ["art"], ["arts"],
    ["art="], "the diverse range of human activities that create visual, auditory or performing works")
ent("Abortion", "society", "procedure", "procedures", ["abortion"], ["abortions"],
    ["abort"], "the ending of pregnancy by removing a fetus or embryo")
ent("American Revolutionary War", "society", "war", "wars",
    ["American Revolutionary War", "American War of Independence", "Revolutionary War"], [],
    ["revolutionary war", "war of independence"],
    "the war in which thirteen American colonies won independence from Great Britain")
ent("Ampere", "science", "unit", "units", ["ampere"], ["amperes"],
    ["ampere", "ampère"], "the SI base unit of electric current")
ent("Algorithm", "technology", "procedure", "procedures", ["algorithm"], ["algorithms"],
    ["algorithm"], "a self-contained sequence of operations for calculation or data processing")
ent("Constructive vote of no confidence", "society", "parliamentary mechanism", "parliamentary mechanisms",
    ["constructive vote of no confidence"], ["constructive votes of no confidence"],
    ["constructive vote", "no confidence", "no-confidence"],
    "a motion that removes a government only if a successor has majority support")
ent("Economy of Estonia", "place", "country", "countries", ["Estonia"], [],
    ["estonia"], "a Baltic country with an advanced eurozone economy tied to Finland and Sweden")
ent("Brahui language", "language", "language", "languages", ["Brahui language", "Brahui"], [],
    ["brahui"], "a Dravidian language spoken mainly in Balochistan, Pakistan")

# How the reasoning trace names each entity (default: the title).
DISPLAY = {
    "Anarchism": "anarchism", "Autism": "autism", "Albedo": "albedo", "Academy Awards": "the Academy Awards",
    "Altruism": "altruism", "Anthropology": "anthropology", "Alchemy": "alchemy", "Animation": "animation",
    "Austroasiatic languages": "the Austroasiatic languages", "Afroasiatic languages": "the Afroasiatic languages",
    "Arithmetic mean": "the arithmetic mean", "American Football Conference": "the American Football Conference",
    "Amphibian": "an amphibian", "Agriculture": "agriculture", "Algae": "algae",
    "Analysis of variance": "analysis of variance (ANOVA)", "Alkane": "an alkane",
    "Appellate procedure in the United States": "appellate procedure in the United States",
    "Arraignment": "arraignment", "Assistive technology": "assistive technology", "Abacus": "the abacus",
    "Acid": "an acid", "Asphalt": "asphalt",
    "American National Standards Institute": "the American National Standards Institute (ANSI)",
    "Astronaut": "an astronaut", "Alkali metal": "an alkali metal", "Alphabet": "an alphabet",
    "Atomic number": "the atomic number", "Anatomy": "anatomy", "Ambiguity": "ambiguity",
    "Aardvark": "the aardvark", "Aardwolf": "the aardwolf", "Adobe": "adobe",
    "Articles of Confederation": "the Articles of Confederation", "Atlantic Ocean": "the Atlantic Ocean",
    "Android (robot)": "an android", "Actinopterygii": "the ray-finned fishes (Actinopterygii)",
    "Aikido": "aikido", "Art": "art", "Abortion": "abortion",
    "American Revolutionary War": "the American Revolutionary War", "Ampere": "the ampere",
    "Algorithm": "an algorithm", "Constructive vote of no confidence": "the constructive vote of no confidence",
    "Economy of Estonia": "Estonia", "Brahui language": "the Brahui language",
    "International Atomic Time": "International Atomic Time (TAI)",
}
# Entities referred to as he/she: a sentence opening with that pronoun right after a
# sentence that names the entity is masked too ("He was born ..." -> "This president was born ...").
PERSON_PRONOUN = {"Abraham Lincoln": "He", "Aristotle": "He", "Ayn Rand": "She", "Andre Agassi": "He",
                  "Aldous Huxley": "He", "Andrei Tarkovsky": "He", "Arthur Schopenhauer": "He",
                  "Albert Sidney Johnston": "He", "Albert Einstein": "He", "Achilles": "He", "Apollo": "He"}
MIN_TRAIN_LEFT = 8            # an entity keeps at least this many training queries
MIN_QUERIES_PER_ENTITY = 8   # fewer candidate queries: the article only gives distractor documents

# Articles that are too small, lists or disambiguation pages: a few of their
# paragraphs go into the corpus as plain distractors (never relevant).
DISTRACTOR_SKIP_PREFIX = ("Wikipedia:",)

SKIP_SECTIONS = {"see also", "references", "external links", "further reading", "notes", "bibliography",
                 "sources", "footnotes", "citations", "gallery", "works", "filmography", "discography",
                 "selected works", "publications", "notes and references", "primary sources",
                 "secondary sources", "list of works", "awards and nominations", "awards"}

STOPWORDS = set("""a about above after again against all also although am among an and any are as at be
because been before being below between both but by can could did do does doing down during each either
few for from further had has have having he her here hers herself him himself his how however i if in into
is it its itself just may me might more most much must my myself no nor not of off on once only or other
our ours ourselves out over own same she should so some such than that the their theirs them themselves
then there these they this those through thus to too under until up upon very via was we were what when
where which while who whom whose why will with within without would yet you your yours yourself one two
many several known called used use often including include includes""".split())

OK_PREV = set("""of in on at to from by for with without into onto over under about against between among
through throughout across within and or but nor that than as like unlike is are was were be been being
became become becomes where when while which who if because since after before during until toward towards
near all both many most some other such visited left entered joined leave led made making has had have do
does did not also only even then so either neither upon via per whereas although though including include
includes included around beyond behind outside inside along whether unless despite regarding concerning
considered""".split())

OK_NEXT = set("""can could may might will would should must cannot is was are were has had have does did
reacts react forms form contains contain consists consist refers refer means mean occurs occur includes
requires require remains remain becomes become uses describes involves represents appears appear exists exist
produces produce allows allow provides provide gives give makes make takes take depends depend differs differ
varies vary tends tend seems seem comes come lies lie lives live lay lays feed feeds eat eats grow grows
developed reached began begins became gained won lost led died served wrote said saw took gave went told
moved returned married met spent left joined asked sought argued believed claimed received remained
continued decided refused lived worked studied played joined entered attended published borders lies
covers""".split())

CONNECTIVES = ("However, ", "But ", "And ", "Also, ", "Thus, ", "Therefore, ", "Moreover, ", "Furthermore, ",
               "Nevertheless, ", "Instead, ", "Similarly, ", "Likewise, ", "Consequently, ", "Meanwhile, ",
               "Hence, ", "Accordingly, ", "Additionally, ", "In addition, ", "Indeed, ", "Today, ")
PRONOUN_START = re.compile(r"^(It|This|That|These|Those|They|He|She|His|Her|Their|Its|Such|Here|There|"
                           r"Both|Another|Other|Some|Many|Most)\b")

ABBREV = set("""u.s mr mrs ms dr st jr sr gen brig col capt lt maj sgt rev prof no vs etc c ca e.g i.e
inc co ltd mt ft fig approx est jan feb mar apr jun jul aug sep sept oct nov dec ph.d a.d b.c""".split())

ARTIFACT = re.compile(
    # leftovers of removed {{convert}}/{{lang}} templates: "an area of, Algeria", "is.", "from to"
    r"\b(?:at|of|about|from|by|approximately|around|some|over|nearly|than|measures|covers|roughly|only|just|"
    r"an|a|the|long|almost|under|below|above|between|perilune|apolune|area|depth|altitude|height|length)"
    r"\s*[,.;:)]"
    r"|\b(?:is|was|are|were)\s*[.;:)]|\bfrom\s+to\b|\bof\s+and\b|\bof\s+of\b|\bsuch as\s*[,.]"
    r"|\b(?:about|approximately|some|nearly|around|roughly|measures|measuring|over|under)\s+(?:west|east|north|"
    r"south|long|wide|high|deep|tall|across|above|below|away|per|in|of|from|and|to|or)\b"
    r"|\(\s*[,;:]|[,;:]\s*\)|[,;:]\s*[,;:]|\s[,;:.]|[|{}<>=\\\[\]]|https?:|www\.|\.\s*\.|''|^\W|\(\s*\)"
    r"|\(\s*(?:from|of|to|at)?\s*\)|\s-\s*[,.]|\bthumb\b|\bpx\b|&\w+;|(?:^|\s)['’‘](?:\s|[,.;:])", re.I)


GLUED = re.compile(r"[a-z]{3,}[A-Z][a-z]")   # an image caption glued to the text: "stampMadalyn"


def is_bad(s):
    """Sentence with markup leftovers, glued captions, unbalanced quotes or brackets."""
    return bool(ARTIFACT.search(s) or GLUED.search(s)) or s.count('"') % 2 == 1 or s.count("(") != s.count(")")


# --- text helpers -----------------------------------------------------------

def fix_parens(m):
    inner = m.group(1)
    inner = re.sub(r"\s*[;,]\s*(?=[;,])", "", inner)
    inner = inner.strip(" ;,:–-\u00a0'\"")
    inner = re.sub(r"\s+", " ", inner)
    if not re.search(r"[A-Za-z0-9]", inner):
        return ""
    return "(" + inner + ")"


def clean_line(line):
    t = unicodedata.normalize("NFC", line)
    t = t.replace("\u00a0", " ").replace("\u2009", " ").replace("\u200b", "")
    t = t.replace("'''", "").replace("''", "")
    for _ in range(2):
        t = re.sub(r"\(([^()]*)\)", fix_parens, t)
    t = re.sub(r"\s+", " ", t)
    t = re.sub(r"\s+([,.;:!?])", r"\1", t)
    t = re.sub(r"\(\s+", "(", t)
    t = re.sub(r"\s+\)", ")", t)
    t = re.sub(r",\s*,", ",", t)
    t = re.sub(r":\s*,", ":", t)
    t = re.sub(r";\s*–", " –", t)
    return t.strip()


def split_sentences(text):
    parts = re.split(r"(?<=[.!?])([\"')\]]?)\s+(?=[A-Z\"'(])", text)
    # re.split with one group returns text, sep, text, sep, ...
    pieces = []
    for i in range(0, len(parts), 2):
        s = parts[i] + (parts[i + 1] if i + 1 < len(parts) else "")
        pieces.append(s)
    out = []
    for s in pieces:
        if out:
            prev = out[-1]
            last = prev.split()[-1].lower().rstrip(".\"')]") if prev.split() else ""
            if (last in ABBREV or re.fullmatch(r"(?:[a-z]\.)*[a-z]", last) or
                    re.search(r"\b[A-Z]\.$", prev) or prev.endswith(" St.")):
                out[-1] = prev + " " + s
                continue
        out.append(s)
    return [s.strip() for s in out if s.strip()]


def words(s):
    return s.split()


TOKEN_RE = re.compile(r"[a-z0-9]+")


def bm25_tokens(s):
    return [t for t in TOKEN_RE.findall(s.lower()) if t not in STOPWORDS and len(t) > 1]


def stable_rng(*key):
    return random.Random(f"{SEED}:" + ":".join(str(k) for k in key))


# --- reading the sources ------------------------------------------------------

def read_wiki():
    """Return {title: [(section, paragraph_text)]} in file order, plus the raw lead bold terms."""
    articles = {}
    for fname in WIKI_FILES:
        path = os.path.join(TEST_DATA, fname)
        with bz2.open(path, "rb") as fh:
            for title, text, _pid in extract_pages(fh, filter_namespaces=("0",)):
                if not text or text.lstrip().lower().startswith("#redirect"):
                    continue
                if title.startswith(DISTRACTOR_SKIP_PREFIX) or title in articles:
                    continue
                plain = filter_wiki(text)
                section = ""
                paras = []
                for raw in plain.split("\n"):
                    raw = raw.strip()
                    m = re.fullmatch(r"(=+)\s*(.*?)\s*=+", raw)
                    if m:
                        section = clean_line(m.group(2)).strip()
                        continue
                    if not raw or raw[0] in "*#:;!|{}" or section.lower() in SKIP_SECTIONS:
                        continue
                    line = clean_line(raw)
                    if len(words(line)) < 20:
                        continue
                    paras.append((section, line))
                articles[title] = paras
    return articles


def read_news():
    path = os.path.join(TEST_DATA, NEWS_FILE)
    with open(path, "r", encoding="utf-8", errors="replace") as fh:
        lines = [clean_line(l) for l in fh.read().split("\n")]
    return [l for l in lines if len(words(l)) >= DOC_MIN_WORDS]


def make_doc(text):
    """First clean sentences of a paragraph, ~60-80 words.

    Returns (doc text or None, indices of the sentences that went into it)."""
    out, used, n = [], [], 0
    for k, s in enumerate(split_sentences(text)):
        if is_bad(s):
            continue
        w = len(words(s))
        if n + w > DOC_MAX_WORDS:
            if n == 0:
                out.append(" ".join(words(s)[:DOC_MAX_WORDS]).rstrip(",;:") + " …")
                used.append(k)
                n = DOC_MAX_WORDS
            break
        out.append(s)
        used.append(k)
        n += w
        if n >= 60:
            break
    if n < DOC_MIN_WORDS:
        return None, []
    return " ".join(out), used


# --- masking ------------------------------------------------------------------

def variant_regex(e):
    forms = [(v, False) for v in e["names"]] + [(v, True) for v in e["plurals"]]
    alts, plural_of = [], {}
    for v, pl in sorted(forms, key=lambda x: (-len(x[0]), x[0])):
        for f in sorted({v, v[0].upper() + v[1:]}):
            alts.append(re.escape(f))
            plural_of[f] = pl
    rx = re.compile(r"(?<![\w\-])(" + "|".join(alts) + r")((?:'s|’s|')(?!\w))?(?![\w\-])")
    return rx, plural_of


def name_regex_ci(e):
    alts = sorted({re.escape(v) for v in e["names"] + e["plurals"]}, key=lambda s: (-len(s), s))
    return re.compile(r"(?<![\w\-])(?:" + "|".join(alts) + r")(?![\w\-])", re.I)


def leaks(text, e):
    """True if the masked text still gives the entity's name away."""
    low = text.lower()
    toks = re.findall(r"[\w’'\-–]+", low)
    for stem in e["leak"]:
        if stem.endswith("="):      # whole word plus common suffixes
            stem = stem[:-1]
            suf = r"(?:s|'s|’s|ist|ists|istic|istry|work|works|ic)?"
            if any(re.fullmatch(re.escape(stem) + suf, t) for t in toks):
                return True
        elif " " in stem:
            if stem in low:
                return True
        elif any(t.startswith(stem) for t in toks):
            return True
    return bool(name_regex_ci(e).search(text))


PRONOUN_REPL = {"He": ("this", False), "She": ("this", False), "It": ("this", False), "They": ("these", True),
                "His": ("this", False), "Her": ("this", False), "Its": ("this", False), "Their": ("these", True)}
POSSESSIVE = {"His", "Her", "Its", "Their"}


def mask_sentence(sent, e, rx, plural_of, proper, pronoun=None):
    """Replace name mentions by 'this <type>'; None if the result would be awkward or leaky.

    `pronoun` ("He", "It", "They", ...) additionally allows (and masks) that
    pronoun or its possessive as the sentence's first word."""
    s = sent
    for c in CONNECTIVES:
        if s.startswith(c):
            s = s[len(c)].upper() + s[len(c) + 1:]
            break
    lead = ""
    first = s.split(" ", 1)[0]
    if pronoun and first in PRONOUN_REPL and (first == pronoun or
                                              {"He": "His", "She": "Her", "It": "Its", "They": "Their"}[pronoun] == first):
        det, plural = PRONOUN_REPL[first]
        lead = det.capitalize() + " " + (e["types"] if plural else e["type"])
        if first in POSSESSIVE:
            lead += "'" if plural else "'s"
        s = s[len(first):]
    elif PRONOUN_START.match(s):
        return None
    matches = list(rx.finditer(s))
    if (not matches and not lead) or len(matches) > 3:
        return None
    out, pos = [lead], 0
    for m in matches:
        name, poss = m.group(1), m.group(2) or ""
        plural = plural_of[name]
        whole_before = s[:m.start()]
        before = s[pos:m.start()]
        stripped = whole_before.rstrip()
        at_start = stripped == "" and not lead
        prev_m = re.search(r"([\w\-]+)\W*$", stripped)
        prev = prev_m.group(1) if prev_m else ""
        art_m = re.search(r"(?:^|(?<=\s))(the|The|a|an|A|An)\s+$", whole_before)
        after = s[m.end():]
        nxt_m = re.match(r"\s+([\w\-]+)", after)
        nxt = nxt_m.group(1) if nxt_m else ""
        if nxt and nxt[0].isupper():
            return None                      # part of a longer name ("Alabama River")
        if s[m.start() - 1:m.start()] in "\"“‘'" and m.start() > 0 or after[:1] in ("\"", "”", "’"):
            return None                      # the name quoted as a word
        if nxt.lower() in e["type"].lower().split() + e["types"].lower().split():
            return None                      # "Academy Awards ceremony"
        if nxt and nxt[0].islower() and not poss:
            if not (nxt in OK_PREV or nxt in OK_NEXT or nxt.endswith("ed") or (proper and nxt.endswith("s"))):
                return None                  # used as a modifier ("acid rain", "Apollo 11 launch")
        if art_m and m.start() - len(art_m.group(0)) >= pos:
            art = art_m.group(1)
            start = m.start() - len(art_m.group(0))
            before = s[pos:start]
            at_start = s[:start].strip() == "" and not lead
            if art.lower() == "the":
                rep = ("these " + e["types"]) if plural else ("this " + e["type"])
            else:
                rep = ("this " if at_start else "such an " if e["type"][0] in "aeiou" else "such a ") + e["type"]
        else:
            if not at_start:
                first_word = stripped == prev and not lead
                if stripped.endswith(",") and prev and prev[0].isupper() and not first_word:
                    return None              # "Mobile, Alabama"
                if prev and prev[0].isupper() and not stripped.endswith((",", ";", ":")) and \
                        not (first_word and prev.lower() in OK_PREV):
                    return None              # "North Alabama", "President Lincoln"
                if prev[:1].isdigit():
                    return None              # "45th Academy Awards"
                if prev and prev[0].islower() and prev not in OK_PREV and \
                        not stripped.endswith((",", ";", ":", "(", "\"")):
                    return None              # adjective before the name ("Chinese alchemy")
            if plural:
                rep = ("these " if at_start else "such ") + e["types"]
            else:
                rep = "this " + e["type"]
        if at_start:
            rep = rep[0].upper() + rep[1:]
        if poss:
            rep += "'" if plural else "'s"
        out.append(before)
        out.append(rep)
        pos = m.end()
    out.append(s[pos:])
    q = re.sub(r"\s+", " ", "".join(out)).strip()
    if leaks(q, e):
        return None
    n = len(words(q))
    if n < QUERY_MIN_WORDS or n > QUERY_MAX_WORDS:
        return None
    if is_bad(q) or not q.endswith((".", "!", "?", ".\"", ".)")):
        return None
    return q


OTHER_PERSON = re.compile(r"(?<!^)\b[A-Z][a-z]+(?: [A-Z]\.)? [A-Z][a-z]+")


def paragraph_queries(sentences, e, rx, plural_of, proper):
    """[(sentence index, sentence, masked query)] for one paragraph."""
    pron = PERSON_PRONOUN.get(e["title"])
    out = []
    prev_named = prev_subject = prev_subject_plural = False
    prev_clean = True
    for k, s in enumerate(sentences):
        if is_bad(s):
            prev_named = prev_subject = False
            continue
        allowed = None
        if pron and prev_named and prev_clean:
            allowed = pron
        elif not pron and prev_subject:
            allowed = "They" if prev_subject_plural else "It"
        q = mask_sentence(s, e, rx, plural_of, proper, pronoun=allowed)
        if q is not None:
            out.append((k, s, q))
        m = rx.search(s)
        subj = re.match(r"(?:The |An |A )?", s)
        subj_m = rx.match(s, subj.end()) if subj else None
        was_pronoun_subject = allowed is not None and q is not None and s.split(" ", 1)[0] in PRONOUN_REPL
        prev_named = m is not None or was_pronoun_subject
        prev_subject = subj_m is not None or was_pronoun_subject
        prev_subject_plural = bool(subj_m and plural_of[subj_m.group(1)]) or \
            (was_pronoun_subject and s.startswith(("They ", "Their ")))
        rest = rx.sub("", s)
        prev_clean = not OTHER_PERSON.search(rest)
    return out


def implicit_queries(sentences, taken, e, rx, spec_e, others):
    """Sentences that never name the entity but carry >= 2 words specific to its article.

    They are used for training only ("Kabul ... Taliban" -> Afghanistan); dev/test
    queries are always name-masked descriptions."""
    out = []
    for k, s in enumerate(sentences):
        if k in taken or is_bad(s) or PRONOUN_START.match(s) or rx.search(s):
            continue
        for c in CONNECTIVES:
            if s.startswith(c):
                s = s[len(c)].upper() + s[len(c) + 1:]
                break
        n = len(words(s))
        if n < QUERY_MIN_WORDS or n > QUERY_MAX_WORDS or not s.endswith((".", "!", "?")):
            continue
        if leaks(s, e) or any(o.search(s) for o in others):
            continue
        strong = [w for w in set(bm25_tokens(s)) if spec_e.get(w, 0.0) >= 0.6]
        if len(strong) >= 2:
            out.append((k, sentences[k], s))
    return out


# --- reasoning traces -----------------------------------------------------------

WORD_RE = re.compile(r"[^\W\d_][\w\-’']*[^\W_]|\d{3,4}")
SPAN_JOIN = {"of", "the", "de", "du", "von", "van", "al", "da", "del", "la", "le"}


def capital_span(query, start, end):
    """Grow the capitalised word at [start, end) into its run of capitalised words."""
    toks = [(m.start(), m.end(), m.group(0)) for m in re.finditer(r"[\w\-’'.]+", query)]
    idx = [i for i, (a, b, _w) in enumerate(toks) if a <= start < b]
    if not idx:
        return query[start:end]
    i = j = idx[0]

    def cap(w):
        return w[:1].isupper()

    while i > 0 and i - 1 > 0 and (cap(toks[i - 1][2]) or (toks[i - 1][2] in SPAN_JOIN and i - 2 > 0 and
                                                          cap(toks[i - 2][2]))):
        if query[toks[i - 1][1]:toks[i][0]].strip():
            break
        i -= 1
    while j + 1 < len(toks) and (cap(toks[j + 1][2]) or (toks[j + 1][2] in SPAN_JOIN and j + 2 < len(toks) and
                                                         cap(toks[j + 2][2]))):
        if query[toks[j][1]:toks[j + 1][0]].strip():
            break
        j += 1
    while i < j and toks[i][2] in SPAN_JOIN:
        i += 1
    while j > i and toks[j][2] in SPAN_JOIN:
        j -= 1
    if j - i >= 4:
        return query[start:end]
    return query[toks[i][0]:toks[j][1]].rstrip(".")


def clue_for(query, e, spec):
    """One or two query phrases that point most specifically to the entity."""
    banned = set(e["type"].lower().split()) | set(e["types"].lower().split()) | {"this", "these", "such"}
    scored, seen = [], set()
    for m in WORD_RE.finditer(query):
        t = m.group(0)
        lt = t.lower().strip("’'")
        if lt in STOPWORDS or lt in seen or lt in banned or len(lt) < 4:
            continue
        seen.add(lt)
        sc = spec.get(lt)
        if sc is None or sc < 0.6:
            continue
        scored.append((-sc, -len(lt), m.start(), m.end(), t))
    scored.sort()
    clues = []
    for _sc, _l, a, b, t in scored:
        phrase = capital_span(query, a, b) if (t[0].isupper() and a > 0) else t
        if phrase.split()[0] in ("The", "This", "These", "In", "A", "An", "On", "At", "During", "By", "From"):
            phrase = " ".join(phrase.split()[1:]) or t
        if any(phrase.lower() in c.lower() or c.lower() in phrase.lower() for c in clues):
            continue
        clues.append(phrase)
        if len(clues) == 2:
            break
    return clues


TEMPLATES_2 = [
    "The mention of {c1} and {c2} points to {name}, {gloss}.",
    "{C1} and {c2} identify this {type} as {name}, {gloss}.",
    "Clues such as {c1} and {c2} fit {name}, {gloss}.",
    "Given {c1} and {c2}, this is {name}, {gloss}.",
]
TEMPLATES_1 = [
    "The mention of {c1} points to {name}, {gloss}.",
    "{C1} identifies this {type} as {name}, {gloss}.",
    "The clue {c1} fits {name}, {gloss}.",
    "Given {c1}, the {type} described is {name}, {gloss}.",
]
TEMPLATES_0 = [
    "The description fits {name}, {gloss}.",
    "This {type} is {name}, {gloss}.",
]


def make_reasoning(key, query, e, spec):
    rng = stable_rng("reason", key)
    clues = clue_for(query, e, spec)
    ctx = dict(name=DISPLAY.get(e["title"], e["title"]), gloss=e["gloss"], type=e["type"])
    if len(clues) >= 2:
        tpl = TEMPLATES_2[rng.randrange(len(TEMPLATES_2))]
        ctx.update(c1=clues[0], c2=clues[1])
    elif clues:
        tpl = TEMPLATES_1[rng.randrange(len(TEMPLATES_1))]
        ctx.update(c1=clues[0])
    else:
        tpl = TEMPLATES_0[rng.randrange(len(TEMPLATES_0))]
    if "c1" in ctx:
        ctx["C1"] = ctx["c1"][0].upper() + ctx["c1"][1:]
    r = tpl.format(**ctx)
    return r[0].upper() + r[1:]
# --- BM25 ---------------------------------------------------------------------

class BM25:
    def __init__(self, docs, k1=0.9, b=0.4):
        self.k1, self.b = k1, b
        self.tfs = [Counter(bm25_tokens(d)) for d in docs]
        self.lens = [sum(tf.values()) for tf in self.tfs]
        self.avg = sum(self.lens) / len(self.lens)
        df = Counter()
        for tf in self.tfs:
            df.update(tf.keys())
        n = len(docs)
        self.idf = {t: math.log(1 + (n - c + 0.5) / (c + 0.5)) for t, c in df.items()}
        self.post = defaultdict(list)
        for i, tf in enumerate(self.tfs):
            for t, c in tf.items():
                self.post[t].append((i, c))

    def scores(self, query):
        sc = defaultdict(float)
        for t in sorted(set(bm25_tokens(query))):
            idf = self.idf.get(t)
            if idf is None:
                continue
            for i, c in self.post[t]:
                norm = c + self.k1 * (1 - self.b + self.b * self.lens[i] / self.avg)
                sc[i] += idf * c * (self.k1 + 1) / norm
        return sc

    def rank(self, query, k=100):
        sc = self.scores(query)
        return sorted(sc, key=lambda i: (-sc[i], i))[:k]


def ndcg_at_10(ranked, qrel, excluded):
    ranked = [d for d in ranked if d not in excluded][:10]
    dcg = sum(qrel.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ranked) if qrel.get(d, 0) > 0)
    ideal = sorted(qrel.values(), reverse=True)[:10]
    idcg = sum(r / math.log2(i + 2) for i, r in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def recall_at_10(ranked, qrel, excluded):
    ranked = [d for d in ranked if d not in excluded][:10]
    rel = [d for d, r in qrel.items() if r > 0]
    return sum(1 for d in ranked if d in qrel) / min(10, len(rel))


# --- parquet ---------------------------------------------------------------------

def write_parquet(name, columns, schema):
    table = pa.table(columns, schema=schema)
    path = os.path.join(OUT_DIR, name)
    pq.write_table(table, path, compression="zstd", compression_level=9, row_group_size=ROW_GROUP_SIZE,
                   use_dictionary=False, write_statistics=True)
    return path


S = pa.string()
LS = pa.list_(pa.string())


def fmt_bytes(n):
    return f"{n / 1024:.0f} KiB" if n < 1024 * 1024 else f"{n / 1024 / 1024:.2f} MiB"


def write_readme(rep, examples, with_news):
    q = rep["queries"]
    fb = rep["file_bytes"]
    b = rep["bm25"]

    def nd(split, mode):
        return f"{b[split][mode]['ndcg@10']:.3f}"

    def rc(split, mode):
        return f"{b[split][mode]['recall@10']:.3f}"

    ex_lines = []
    for r, pos, neg in examples:
        ex_lines += [f"- **query** ({r['qid']}, task `{E[r['ent']]['task']}`): {r['query']}",
                     f"  - **reasoning**: {r['reasoning']}",
                     f"  - **a relevant document**: {pos}",
                     f"  - **a BM25 hard negative**: {neg}", ""]
    tasks = ", ".join(f"`{k}` ({v['entities']})" for k, v in rep["tasks"].items())
    news_line = (f"| News stories (Lee corpus, `{NEWS_FILE}`) | {rep['corpus_docs_news_distractor']} | "
                 f"distractors, never relevant |" if with_news else
                 "| News stories | 0 | left out (`--no-news`) |")
    text = f"""# Default dataset: reasoning entity retrieval

<!-- Generated by data/build_dataset.py; edit the template there and rebuild, not this file. -->

A small retrieval task built from **real Wikipedia text** that is embedded in the repository
({fmt_bytes(rep["total_bytes"])} in all), so that the trainer and its tests need no download.

**Task.** A query is a sentence of a Wikipedia article in which the article's subject (the
*entity*) has been masked ("Alabama is nicknamed ..." becomes "This state is nicknamed ...").
The relevant documents are *other* paragraphs of the same article, and those name the entity.
Query and documents therefore share few key words; one step of reasoning bridges them. The gold
reasoning trace names the entity, the query's most telling clue and one fact about the entity:

> Query: {examples[0][0]["query"]}
> Reasoning: {examples[0][0]["reasoning"]}

A reasoning retriever writes such a trace after the query and embeds the hidden state at
`<embtoken>`; documents are embedded as `instruction + text + <embtoken>`.

## Files

| file | rows | size | columns (Arrow types) |
| --- | --- | --- | --- |
| `corpus.parquet` | {rep["corpus_docs"]} | {fmt_bytes(fb["corpus.parquet"])} | `doc_id: string`, `title: string`, `text: string` |
| `train_warmup.parquet` (stage 1, SFT) | {q["train"]} | {fmt_bytes(fb["train_warmup.parquet"])} | `query_id, query, reasoning: string`, `positive_ids: list<string>` |
| `train_contrastive.parquet` (stage 2, InfoNCE) | {q["train"]} | {fmt_bytes(fb["train_contrastive.parquet"])} | `query_id, query, reasoning: string`, `positive_ids, negative_ids: list<string>` |
| `train_grpo.parquet` (stage 3, GRPO) | {q["grpo"]} | {fmt_bytes(fb["train_grpo.parquet"])} | `query_id, query, reasoning: string`, `positive_ids, negative_ids, excluded_ids: list<string>` |
| `dev_queries.parquet` | {q["dev"]} | {fmt_bytes(fb["dev_queries.parquet"])} | `query_id, query, task, reasoning: string`, `excluded_ids: list<string>` |
| `dev_qrels.parquet` | {rep["qrels_rows"]["dev"]} | {fmt_bytes(fb["dev_qrels.parquet"])} | `query_id: string`, `doc_id: string`, `relevance: int32` |
| `test_queries.parquet` | {q["test"]} | {fmt_bytes(fb["test_queries.parquet"])} | as dev |
| `test_qrels.parquet` | {rep["qrels_rows"]["test"]} | {fmt_bytes(fb["test_qrels.parquet"])} | as dev |
| `tokenizer.json` | vocab {rep["tokens"]["vocab"]} | {fmt_bytes(fb["tokenizer.json"])} | Hugging Face `tokenizers` BPE |
| `build_report.json` | | | every number in this file, per-entity counts, versions |

All Parquet files are written by pyarrow {rep["versions"]["pyarrow"]} with zstd (level 9), no dictionary
encoding and row groups of {ROW_GROUP_SIZE} rows, so the larger files have several row groups. List
columns are Parquet-compliant (`list<element: string>`: the child field is named `element`, not
`item`; compare list types by item type, not by field name). No column holds nulls. Ids are short
stable strings: `d00000`..`d{rep["corpus_docs"] - 1:05d}` and `q00000`..; query ids are unique across all
files. Row order is shuffled with a fixed seed.

- **`positive_ids`** = all corpus paragraphs of the query's entity ({rep["relevant_docs_per_eval_query"]["min"]}-{rep["relevant_docs_per_eval_query"]["max"]}, mean {rep["relevant_docs_per_eval_query"]["mean"]} for dev/test).
- **`negative_ids`** = {HARD_NEGATIVES} hard negatives per query: the top BM25 hits for the query text alone
  that are neither the entity's paragraphs nor name the entity (lexical lures); when fewer than
  {HARD_NEGATIVES} such hits exist the list is topped up with paragraphs of other entities of the same task.
- **qrels**: relevance 2 for the entity's lead (defining) paragraph, 1 for its other paragraphs;
  qrels list only relevant pairs.
- **`excluded_ids`** (BRIGHT style): paragraphs of *other* articles or news stories that mention the
  entity by name. They are neither clearly relevant nor clearly irrelevant, so evaluation drops them
  from the ranking before cutting at k (mean {rep["excluded_per_eval_query_mean"]} per query; often empty);
  they are never used as negatives either.
- **`task`**: the entity's category, one of {tasks} (entities per task in brackets).
- **dev/test `reasoning`**: the gold trace, for analysis and oracle numbers only.

## How it was built

- **Sources** (read from the installed `gensim` package via `gensim.__file__`, nothing downloaded):
  `gensim/test/test_data/enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2`
  (a shortened English Wikipedia dump, revisions of 2016-05-01, about 100 real articles) and
  `enwiki-table-markup.xml.bz2` (5 more articles, revisions up to 2017-12), both parsed with gensim's
  `extract_pages` and `filter_wiki`; {"`lee_background.cor` (300 Australian news stories of 2001, Lee et al. 2005)" if with_news else "the news stories are left out"}.
  Markup leftovers, lists, tables, captions and reference sections are dropped.
- **Entities**: {rep["entities"]} Wikipedia articles listed in the script, each with a hand-written type noun
  ("state", "philosopher", ...), name variants to mask and a one-line gloss that paraphrases the
  article's lead. Sub-articles of Angola are merged into Angola. Articles with too few usable
  sentences ({len(rep["not_used_as_entities"])}, e.g. {", ".join(rep["not_used_as_entities"][:3])}), disambiguation pages, lists and tiny
  articles only contribute distractor paragraphs.
- **Documents**: each paragraph is cut to its first whole sentences, {DOC_MIN_WORDS}-{DOC_MAX_WORDS} words (mean
  {rep["avg_words"]["doc"]}). Per entity 3-{DOCS_PER_ENTITY} paragraphs that name the entity go into the corpus (the lead paragraph
  first), preferring paragraphs that yield no query. Corpus composition:

  | kind | docs | role |
  | --- | --- | --- |
  | entity paragraphs | {rep["corpus_docs_entity"]} | relevant to the entity's queries |
  | other Wikipedia paragraphs | {rep["corpus_docs_wiki_distractor"]} | distractors, never relevant |
  {news_line}

- **Queries** ({QUERY_MIN_WORDS}-{QUERY_MAX_WORDS} words, mean {rep["avg_words"]["query"]}): sentences of the entity's *other* paragraphs.
  A mention of the entity becomes "this <type>" / "these <types>" / "such <types>", a sentence-initial
  he/she/it/they right after a sentence that names the entity becomes "This <type>", and a sentence
  is discarded when the result would be ungrammatical (the name used as a modifier, inside a longer
  name, quoted as a word) or would still give the name away (any word starting with a leak stem such
  as `alabam`, `aristot`). Training additionally uses sentences that never name the entity but contain
  at least two words that occur mostly in its article ("Kabul ... Taliban" -> Afghanistan); dev and test
  queries are always name-masked descriptions.
- **Reasoning traces** ({rep["avg_words"]["reasoning"]} words on average): a template names the 1-2 query words most
  specific to the entity's article, the entity, and its gloss, e.g. "The mention of Patroclus points
  to Achilles, the Greek hero of the Trojan War in Homer's Iliad." They end before `<embtoken>`.
- **Splits**: per entity, whole paragraphs are held out for dev and test (one query each, up to
  {DEV_PER_ENTITY}+{TEST_PER_ENTITY} per entity, only if at least {MIN_TRAIN_LEFT} training queries remain); every other candidate goes to
  training (at most {TRAIN_CAP_PER_ENTITY} masked + {IMPLICIT_CAP_PER_ENTITY} clue-only per entity), every {GRPO_EVERY}th of them to the GRPO file.
  `train_warmup` and `train_contrastive` hold the same queries; `train_grpo` holds different ones
  (its gold reasoning is never a target: stage 3 logs its reward, `train/reward_gold`, beside the rollouts').
  So dev/test queries are *new descriptions* of entities that training describes too
  ({rep["entities_in_dev"]} entities in dev, {rep["entities_in_test"]} in test): the description -> entity mapping is learnable at small scale.
  The build asserts that train, GRPO, dev and test sentences are disjoint, that no dev/test query
  text occurs in any training row, that no query sentence occurs in the corpus, that no query leaks
  the entity's name, and that negatives are never positives or excluded.
- **Tokenizer**: byte-level BPE trained with `tokenizers` {rep["versions"]["tokenizers"]} on the corpus plus training queries and
  reasoning (dev/test text is not used); vocab {rep["tokens"]["vocab"]}; special tokens `<pad>` = 0, `<eos>` = 1,
  `<embtoken>` = 2 (in `added_tokens` with `special: true`, never split); normaliser NFC + lowercase;
  ByteLevel pre-tokenizer and decoder, so `decode(encode(text)) == lowercase(NFC(text))`, with no
  unknown tokens; no post-processor (nothing is added automatically: append `<embtoken>` / `<eos>`
  yourself). Mean length: document {rep["tokens"]["doc_mean"]} tokens (max {rep["tokens"]["doc_max"]}), query + reasoning {rep["tokens"]["query+reasoning_mean"]} (max {rep["tokens"]["query+reasoning_max"]}).

## BM25 baseline (does reasoning help?)

BM25 (k1 = 0.9, b = 0.4, lowercase word tokens, English stop words removed) over the whole corpus,
excluded ids removed before the cut:

| retrieval text | dev nDCG@10 | dev Recall@10 | test nDCG@10 | test Recall@10 |
| --- | --- | --- | --- | --- |
| query only | {nd("dev", "query")} | {rc("dev", "query")} | {nd("test", "query")} | {rc("test", "query")} |
| query + gold reasoning | {nd("dev", "query+reasoning")} | {rc("dev", "query+reasoning")} | {nd("test", "query+reasoning")} | {rc("test", "query+reasoning")} |
| gold reasoning only | {nd("dev", "reasoning")} | {rc("dev", "reasoning")} | {nd("test", "reasoning")} | {rc("test", "reasoning")} |

Lexical matching on the query alone mostly finds the hard negatives; adding the one-step reasoning
(the entity's name and a fact) raises test nDCG@10 from {nd("test", "query")} to {nd("test", "query+reasoning")}. Recall@10 counts
hits among the top 10 over min(10, number of relevant documents).

## Examples (dev)

{chr(10).join(ex_lines)}
## Rebuilding

```sh
python3 -m venv .venv-data        # git-ignored
.venv-data/bin/pip install -r data/requirements.txt
.venv-data/bin/python data/build_dataset.py             # about 10 s on 2 cores
```

The build is deterministic (fixed seeds, sorted iteration, string-seeded RNGs, no dependence on hash
order): with the pinned versions in `data/requirements.txt` it rewrites every file byte for byte.
`--examples` also prints sample rows; `--no-news` leaves the news stories out of the corpus. Built
with Python {rep["versions"]["python"]}, gensim {rep["versions"]["gensim"]}, pyarrow {rep["versions"]["pyarrow"]}, tokenizers {rep["versions"]["tokenizers"]}. The script checks the sha256 of its inputs
and warns when another gensim ships different bytes.

## Source and licence

- **Wikipedia text** (all corpus paragraphs except the news stories, all queries, and the entity
  names and glosses in the reasoning traces): from the English Wikipedia, by Wikipedia's
  contributors, licensed under
  [CC BY-SA 3.0](https://creativecommons.org/licenses/by-sa/3.0/) (the licence of Wikipedia text at
  the time of these 2016/2017 revisions). This dataset adapts it (sentences cut, entity names masked)
  and is shared under the same licence. Each document's source article is its `title` (before
  " — "); the authors are listed in that article's history at `https://en.wikipedia.org/wiki/<title>`.
- **News stories**: `lee_background.cor`, the background corpus of Lee, Pincombe and Welsh (2005),
  "An empirical evaluation of models of text document similarity", news stories of the Australian
  Broadcasting Corporation, as redistributed in gensim's test data. They only serve as distractors;
  rebuild with `--no-news` to leave them out.
- **gensim** (its code is LGPL-2.1) is used only to parse the dump and ship the test data files; no
  gensim code is copied here. The files come from the gensim {rep["versions"]["gensim"]} wheel on PyPI.
- The build script, type nouns, glosses and templates are the project's own.
"""
    with open(os.path.join(OUT_DIR, "README.md"), "w", encoding="utf-8") as fh:
        fh.write(text)


def main():
    with_news = "--no-news" not in sys.argv
    for fname, want in sorted(INPUT_SHA256.items()):
        with open(os.path.join(TEST_DATA, fname), "rb") as fh:
            got = hashlib.sha256(fh.read()).hexdigest()
        if got != want:
            print(f"warning: {fname} differs from the gensim 4.4.0 copy; the output will differ too",
                  file=sys.stderr)
    articles = read_wiki()
    news = read_news() if with_news else []
    merged = {m for t in E for m in E[t]["merge"]}
    missing = [t for t in sorted(E) if t not in articles]
    if missing:
        sys.exit(f"entities missing from the dump: {missing}")

    # ---- per-entity paragraphs ---------------------------------------------------------
    ent_paras = {}
    for t in sorted(E):
        paras = list(articles[t])
        for m in E[t]["merge"]:
            paras += [(f"{m}: {sec}" if sec else m, p) for sec, p in articles.get(m, [])]
        ent_paras[t] = paras

    # specificity of words for each entity (clue selection): share of the word's paragraphs
    df_ent = {t: Counter() for t in E}
    df_all = Counter()
    for t in sorted(E):
        for _sec, p in ent_paras[t]:
            ws = set(bm25_tokens(p))
            df_ent[t].update(ws)
            df_all.update(ws)
    spec = {t: {w: c / (df_all[w] + 1.0) for w, c in df_ent[t].items() if c >= 2} for t in E}
    name_rx = {t: name_regex_ci(E[t]) for t in sorted(E)}

    # ---- document candidates and query candidates --------------------------------------
    info = {}
    seen_docs = set()
    for t in sorted(E):
        e = E[t]
        paras = ent_paras[t]
        others = [name_rx[u] for u in sorted(E) if u != t]
        rx, plural_of = variant_regex(e)
        rxci = name_regex_ci(e)
        proper = e["names"][0][0].isupper()
        items = []
        for i, (sec, p) in enumerate(paras):
            sents = split_sentences(p)
            doc, used = make_doc(p)
            if doc is not None and (not rxci.search(doc) or doc in seen_docs):
                doc, used = None, []
            if doc is not None:
                seen_docs.add(doc)
            qs = paragraph_queries(sents, e, rx, plural_of, proper)
            taken = {k for k, _s, _q in qs}
            imp = implicit_queries(sents, taken, e, rx, spec[t], others)
            items.append(dict(i=i, sec=sec, doc=doc, used=set(used), qs=qs, imp=imp))
        info[t] = dict(paras=paras, items=items)

    # ---- choose corpus paragraphs per entity; the rest are query sources ------------------
    entities = []
    plan = {}
    for t in sorted(E):
        items = info[t]["items"]
        docable = [it for it in items if it["doc"] is not None]
        n_docs = max(3, min(DOCS_PER_ENTITY, round(len(docable) / 4)))
        chosen = []
        if docable and docable[0]["i"] == items[0]["i"] and items[0]["sec"] == "":
            chosen.append(docable[0])          # the lead paragraph defines the entity
        # prefer paragraphs that yield no query, so that descriptions stay available as queries
        rest = [it for it in docable if it not in chosen]
        rest = sorted(rest, key=lambda it: (len(it["qs"]), it["i"]))[:n_docs - len(chosen)]
        chosen = sorted(chosen + rest, key=lambda it: it["i"])
        chosen_i = {it["i"] for it in chosen}
        # held-out-able paragraphs (no sentence in the corpus) and train-only leftovers
        free = [(it["i"], it["qs"]) for it in items if it["i"] not in chosen_i and it["qs"]]
        leftover = [(it["i"], [q for q in it["qs"] if q[0] not in it["used"]]) for it in chosen]
        leftover = [(i, qs) for i, qs in leftover if qs]
        implicit = {it["i"]: [q for q in it["imp"] if q[0] not in it["used"]] for it in items}
        n_q = sum(len(qs) for _i, qs in free + leftover)
        if len(chosen) < 3 or n_q + min(IMPLICIT_CAP_PER_ENTITY, sum(map(len, implicit.values()))) < \
                MIN_QUERIES_PER_ENTITY:
            continue
        entities.append(t)
        plan[t] = dict(chosen=chosen, free=free, leftover=leftover, implicit=implicit,
                       lead=chosen[0]["i"] if chosen and chosen[0]["i"] == items[0]["i"] and
                       items[0]["sec"] == "" else None)

    # ---- corpus -------------------------------------------------------------------
    corpus = []                  # (doc_id, title, text)
    ent_docs, lead_doc = {}, {}
    for t in entities:
        ent_docs[t] = []
        for it in plan[t]["chosen"]:
            did = f"d{len(corpus):05d}"
            title = t if it["sec"] == "" else f"{t} — {it['sec']}"
            corpus.append((did, title, it["doc"]))
            ent_docs[t].append(did)
            if it["i"] == plan[t]["lead"]:
                lead_doc[t] = did
    n_entity_docs = len(corpus)
    in_corpus = {c[2] for c in corpus}
    for t in sorted(articles):
        if t in entities or t in merged and any(t in E[x]["merge"] for x in entities):
            continue
        n = 0
        for sec, p in articles[t]:
            doc, _used = make_doc(p)
            if doc is None or doc in in_corpus:
                continue
            in_corpus.add(doc)
            corpus.append((f"d{len(corpus):05d}", t if sec == "" else f"{t} — {sec}", doc))
            n += 1
            if n == DISTRACTOR_DOCS_PER_ARTICLE:
                break
    n_wiki_distractors = len(corpus) - n_entity_docs
    for j, story in enumerate(news):
        doc, _used = make_doc(story)
        if doc is not None and doc not in in_corpus:
            in_corpus.add(doc)
            corpus.append((f"d{len(corpus):05d}", f"News story {j + 1:03d} (Lee corpus)", doc))
    n_news = len(corpus) - n_entity_docs - n_wiki_distractors
    doc_ids = [c[0] for c in corpus]
    corpus_texts = [c[2] for c in corpus]
    doc_text = dict(zip(doc_ids, corpus_texts))
    all_corpus_lower = "\n".join(corpus_texts).lower()
    bm25 = BM25(corpus_texts)

    # documents that are not the entity's own but name it: never negatives, excluded from eval
    named_elsewhere = {}
    for t in entities:
        rxci = name_regex_ci(E[t])
        own = set(ent_docs[t])
        named_elsewhere[t] = [d for d, _tt, x in corpus if d not in own and rxci.search(x)]

    # ---- split queries ---------------------------------------------------------------
    split_rows = {"train": [], "grpo": [], "dev": [], "test": []}
    for t in entities:
        rng = stable_rng("split", t)
        free = list(plan[t]["free"])
        rng.shuffle(free)
        held = set()

        def n_train_left():
            return sum(len(qs) for _i, qs in free[:-1] + plan[t]["leftover"]) + min(
                IMPLICIT_CAP_PER_ENTITY, sum(len(v) for i, v in plan[t]["implicit"].items()
                                             if i not in held and i != free[-1][0]))

        for name, n in (("dev", DEV_PER_ENTITY), ("test", TEST_PER_ENTITY)):
            for _ in range(n):
                if len(free) <= 3 or n_train_left() < MIN_TRAIN_LEFT:
                    break
                i, qs = free.pop()
                held.add(i)
                _k, s, q = qs[rng.randrange(len(qs))]
                split_rows[name].append((t, q, s))
        train = sorted([(i, k, s, q) for i, qs in free + plan[t]["leftover"] for (k, s, q) in qs])
        if len(train) > TRAIN_CAP_PER_ENTITY:
            train = [train[j] for j in sorted(rng.sample(range(len(train)), TRAIN_CAP_PER_ENTITY))]
        imp = sorted([(i, k, s, q) for i, qs in plan[t]["implicit"].items() if i not in held for (k, s, q) in qs])
        if len(imp) > IMPLICIT_CAP_PER_ENTITY:
            imp = [imp[j] for j in sorted(rng.sample(range(len(imp)), IMPLICIT_CAP_PER_ENTITY))]
        for j, (_i, _k, s, q) in enumerate(sorted(train + imp)):
            split_rows["grpo" if j % GRPO_EVERY == GRPO_EVERY - 1 else "train"].append((t, q, s))

    # unique query texts (held-out splits win), shuffled row order, ids in file order
    seen_q = set()
    for name in ("test", "dev", "grpo", "train"):
        kept = []
        for row in split_rows[name]:
            if row[1].lower() not in seen_q:
                seen_q.add(row[1].lower())
                kept.append(row)
        split_rows[name] = kept
    rows, n = {}, 0
    for name in ("train", "grpo", "dev", "test"):
        rr = list(split_rows[name])
        stable_rng("order", name).shuffle(rr)
        rows[name] = []
        for t, q, s in rr:
            rows[name].append(dict(qid=f"q{n:05d}", ent=t, query=q, source=s))
            n += 1

    for name in ("train", "grpo", "dev", "test"):
        for r in rows[name]:
            e = E[r["ent"]]
            r["reasoning"] = make_reasoning(r["source"], r["query"], e, spec[r["ent"]])
            r["positives"] = list(ent_docs[r["ent"]])
            r["excluded"] = list(named_elsewhere[r["ent"]])
            bad = set(r["positives"]) | set(r["excluded"])
            ranked = bm25.rank(r["query"], k=60)
            negs = [doc_ids[i] for i in ranked if doc_ids[i] not in bad][:HARD_NEGATIVES]
            if len(negs) < HARD_NEGATIVES:
                # too little word overlap: top up with paragraphs of same-task entities
                pool = [d for u in entities if u != r["ent"] and E[u]["task"] == e["task"]
                        for d in ent_docs[u] if d not in bad and d not in negs]
                rng = stable_rng("neg", r["qid"])
                negs += rng.sample(pool, HARD_NEGATIVES - len(negs))
            r["negatives"] = negs

    # ---- sanity checks -------------------------------------------------------------
    train_rows = rows["train"] + rows["grpo"]
    train_blob = "\n".join(r["query"] + "\n" + r.get("reasoning", "") for r in train_rows).lower()
    train_src = {r["source"] for r in train_rows}
    for nm in ("dev", "test"):
        for r in rows[nm]:
            assert r["query"].lower() not in train_blob, r["query"]
            assert r["source"] not in train_src
    assert not {r["source"] for r in rows["dev"]} & {r["source"] for r in rows["test"]}
    for nm in rows:
        for r in rows[nm]:
            assert len(r["negatives"]) >= 3, r
            assert r["source"].lower() not in all_corpus_lower, r["source"]
            assert r["query"].lower() not in all_corpus_lower, r["query"]
            assert not leaks(r["query"], E[r["ent"]]), r["query"]
            assert not set(r["negatives"]) & (set(r["positives"]) | set(r["excluded"]))
    assert len(set(doc_ids)) == len(doc_ids) and len(set(corpus_texts)) == len(corpus_texts)

    # ---- BM25 baselines: query only vs query + gold reasoning ------------------------------
    def qrel_of(r):
        return {d: (2 if d == lead_doc.get(r["ent"]) else 1) for d in r["positives"]}

    results = {}
    for nm in ("dev", "test"):
        res = {}
        for mode in ("query", "query+reasoning", "reasoning"):
            nd, rc = [], []
            for r in rows[nm]:
                text = {"query": r["query"], "query+reasoning": r["query"] + " " + r["reasoning"],
                        "reasoning": r["reasoning"]}[mode]
                ranked = [doc_ids[i] for i in bm25.rank(text, k=200)]
                ex = set(r["excluded"])
                nd.append(ndcg_at_10(ranked, qrel_of(r), ex))
                rc.append(recall_at_10(ranked, qrel_of(r), ex))
            res[mode] = (sum(nd) / len(nd), sum(rc) / len(rc))
        results[nm] = res

    # ---- parquet ---------------------------------------------------------------------
    write_parquet("corpus.parquet",
                  {"doc_id": doc_ids, "title": [c[1] for c in corpus], "text": corpus_texts},
                  pa.schema([("doc_id", S), ("title", S), ("text", S)]))
    tr = rows["train"]
    write_parquet("train_warmup.parquet",
                  {"query_id": [r["qid"] for r in tr], "query": [r["query"] for r in tr],
                   "reasoning": [r["reasoning"] for r in tr], "positive_ids": [r["positives"] for r in tr]},
                  pa.schema([("query_id", S), ("query", S), ("reasoning", S), ("positive_ids", LS)]))
    write_parquet("train_contrastive.parquet",
                  {"query_id": [r["qid"] for r in tr], "query": [r["query"] for r in tr],
                   "reasoning": [r["reasoning"] for r in tr], "positive_ids": [r["positives"] for r in tr],
                   "negative_ids": [r["negatives"] for r in tr]},
                  pa.schema([("query_id", S), ("query", S), ("reasoning", S), ("positive_ids", LS),
                             ("negative_ids", LS)]))
    gr = rows["grpo"]
    # `reasoning` is never a training target in stage 3: it is the gold reference whose reward the trainer logs
    # beside the rollouts' (`train/reward_gold`); `excluded_ids` drops from the corpus pool the paragraphs that name
    # the entity elsewhere, as the evaluation does.
    write_parquet("train_grpo.parquet",
                  {"query_id": [r["qid"] for r in gr], "query": [r["query"] for r in gr],
                   "reasoning": [r["reasoning"] for r in gr],
                   "positive_ids": [r["positives"] for r in gr], "negative_ids": [r["negatives"] for r in gr],
                   "excluded_ids": [r["excluded"] for r in gr]},
                  pa.schema([("query_id", S), ("query", S), ("reasoning", S), ("positive_ids", LS),
                             ("negative_ids", LS), ("excluded_ids", LS)]))
    for nm in ("dev", "test"):
        rr = rows[nm]
        write_parquet(f"{nm}_queries.parquet",
                      {"query_id": [r["qid"] for r in rr], "query": [r["query"] for r in rr],
                       "task": [E[r["ent"]]["task"] for r in rr], "reasoning": [r["reasoning"] for r in rr],
                       "excluded_ids": [r["excluded"] for r in rr]},
                      pa.schema([("query_id", S), ("query", S), ("task", S), ("reasoning", S),
                                 ("excluded_ids", LS)]))
        qq, dd, rel = [], [], []
        for r in rr:
            for d, g in sorted(qrel_of(r).items()):
                qq.append(r["qid"])
                dd.append(d)
                rel.append(g)
        write_parquet(f"{nm}_qrels.parquet", {"query_id": qq, "doc_id": dd, "relevance": rel},
                      pa.schema([("query_id", S), ("doc_id", S), ("relevance", pa.int32())]))

    # ---- tokenizer (corpus + training queries + training reasoning only) ----------------------
    tok_text = corpus_texts + [r["query"] for r in train_rows] + [r["reasoning"] for r in train_rows]
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.Sequence([normalizers.NFC(), normalizers.Lowercase()])
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=VOCAB_SIZE, min_frequency=2, special_tokens=SPECIAL_TOKENS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(tok_text, trainer=trainer, length=len(tok_text))
    tok_path = os.path.join(OUT_DIR, "tokenizer.json")
    tok.save(tok_path, pretty=True)
    tok = Tokenizer.from_file(tok_path)
    assert [tok.token_to_id(x) for x in SPECIAL_TOKENS] == [0, 1, 2]
    for r in rows["dev"][:20]:
        text = r["query"] + " " + r["reasoning"]
        enc = tok.encode(text + "<embtoken>")
        assert enc.ids[-1] == 2 and enc.ids.count(2) == 1, enc.tokens[-5:]
        assert tok.decode(enc.ids) == unicodedata.normalize("NFC", text).lower(), text

    # ---- report ------------------------------------------------------------------------
    def avg_words(xs):
        return round(sum(len(words(x)) for x in xs) / max(1, len(xs)), 1)

    sizes = {f: os.path.getsize(os.path.join(OUT_DIR, f)) for f in sorted(os.listdir(OUT_DIR))
             if f.endswith((".parquet", ".json")) and f != "build_report.json"}
    doc_tok = [len(tok.encode(x).ids) for x in corpus_texts]
    qr_tok = [len(tok.encode(r["query"] + " " + r["reasoning"]).ids) for r in tr]
    n_rel = [len(r["positives"]) for r in rows["dev"] + rows["test"]]
    report = {
        "versions": {"python": sys.version.split()[0], "gensim": gensim.__version__, "pyarrow": pa.__version__,
                     "tokenizers": tokenizers.__version__},
        "entities": len(entities),
        "entities_in_dev": len({r["ent"] for r in rows["dev"]}),
        "entities_in_test": len({r["ent"] for r in rows["test"]}),
        "corpus_docs": len(corpus),
        "corpus_docs_entity": n_entity_docs,
        "corpus_docs_wiki_distractor": n_wiki_distractors,
        "corpus_docs_news_distractor": n_news,
        "queries": {nm: len(rows[nm]) for nm in ("train", "grpo", "dev", "test")},
        "qrels_rows": {nm: sum(len(r["positives"]) for r in rows[nm]) for nm in ("dev", "test")},
        "tasks": {task: {"entities": sum(1 for t in entities if E[t]["task"] == task),
                         "dev": sum(1 for r in rows["dev"] if E[r["ent"]]["task"] == task),
                         "test": sum(1 for r in rows["test"] if E[r["ent"]]["task"] == task)}
                  for task in sorted({E[t]["task"] for t in entities})},
        "per_entity": {t: [len(ent_docs[t])] + [sum(1 for r in rows[nm] if r["ent"] == t)
                                               for nm in ("train", "grpo", "dev", "test")] for t in entities},
        "not_used_as_entities": [t for t in sorted(E) if t not in entities],
        "relevant_docs_per_eval_query": {"min": min(n_rel), "mean": round(sum(n_rel) / len(n_rel), 2),
                                         "max": max(n_rel)},
        "excluded_per_eval_query_mean": round(sum(len(r["excluded"]) for r in rows["dev"] + rows["test"]) /
                                              len(n_rel), 2),
        "avg_words": {"doc": avg_words(corpus_texts), "query": avg_words([r["query"] for r in tr]),
                      "reasoning": avg_words([r["reasoning"] for r in tr])},
        "tokens": {"vocab": tok.get_vocab_size(), "doc_mean": round(sum(doc_tok) / len(doc_tok), 1),
                   "doc_max": max(doc_tok), "query+reasoning_mean": round(sum(qr_tok) / len(qr_tok), 1),
                   "query+reasoning_max": max(qr_tok)},
        "bm25": {nm: {m: {"ndcg@10": round(v[0], 4), "recall@10": round(v[1], 4)} for m, v in res.items()}
                 for nm, res in results.items()},
        "file_bytes": sizes,
        "total_bytes": sum(sizes.values()),
    }
    print(json.dumps(report, indent=1, ensure_ascii=False))
    with open(os.path.join(OUT_DIR, "build_report.json"), "w", encoding="utf-8") as fh:
        json.dump(report, fh, indent=1, ensure_ascii=False)
        fh.write("\n")
    examples = []
    for r in [r for r in rows["dev"] if not r["reasoning"].startswith(("The description", "This "))][:3]:
        examples.append((r, doc_text[r["positives"][0]], doc_text[r["negatives"][0]]))
    write_readme(report, examples, with_news)
    if "--examples" in sys.argv:
        for r in rows["train"][:12] + rows["dev"][:6]:
            print("\n[%s] %s\n  Q: %s\n  R: %s\n  +: %s\n  -: %s" % (
                r["qid"], r["ent"], r["query"], r["reasoning"], doc_text[r["positives"][0]][:160],
                doc_text[r["negatives"][0]][:160]))


if __name__ == "__main__":
    main()

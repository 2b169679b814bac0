"""Automatic protection (docs/rules.md, docs/protocol.md "Automatic
protection"): what each rule action does over real IRC (block, hold with
release and discard, flag, off-platform warning and its friction window),
every pack category in both languages with plain and disguised spellings,
the whole positive corpus replayed through the server, the benign corpus
left alone, the conversation risk score (safety tip, review, restriction
and its lifting), nicknames, held room names, topics and away texts.

One server for the module, with the shipped packs and the spam and rate
limits lifted (salonlib.DEFAULTS): 10-raids.py tests those limits. Every
sender is a fresh session so that no case inherits another's risk score,
mute or restriction. Nicks are made of consonants (uniq_alpha): the name
rules read ages in digits."""
import glob
import os
import re
import time

import pytest

import salonlib
from salonlib import (REPO, http_json, open_reports, staff_action,
                      staff_login, sync_all, uniq_alpha, wait_until)

pytestmark = pytest.mark.skipif(salonlib.TARGET != "salon",
                                reason="salon-only protection")

# [protection] thresholds, as shipped (docs/rules.md); DEFAULTS does not
# change them.
FRICTION_MESSAGES = 10
RISK_TIP, RISK_REVIEW, RISK_RESTRICT = 40, 70, 100

HELD_TEXT = ("Your message awaits a moderator's review before anyone sees "
             "it.")
AUTOMATIC = "(automatic)"


# ------------------------------------------------------------ the packs

def load_packs():
    """Every rule of rules/*/*.rules: id -> {key: value, "file": path}.
    The files are INI-like: [pack] then [rule <id>] sections of
    `key = value` lines, '#' comments."""
    rules = {}
    for path in sorted(glob.glob(os.path.join(REPO, "rules", "*",
                                              "*.rules"))):
        cur = None
        with open(path, encoding="utf-8") as f:
            for raw in f:
                line = raw.strip()
                if not line or line.startswith("#"):
                    continue
                m = re.fullmatch(r"\[rule (\S+)\]", line)
                if m:
                    cur = rules.setdefault(m.group(1), {
                        "file": os.path.relpath(path, REPO)})
                    continue
                if line.startswith("["):
                    cur = None
                    continue
                if cur is not None and "=" in line:
                    k, _, v = line.partition("=")
                    cur[k.strip()] = v.strip()
    return rules


def load_positive():
    """tests/corpus/positive.tsv: (rule id, read, text) per line."""
    out = []
    path = os.path.join(REPO, "tests", "corpus", "positive.tsv")
    with open(path, encoding="utf-8") as f:
        for raw in f:
            line = raw.rstrip("\n")
            if not line or line.startswith("#"):
                continue
            rid, read, text = line.split("\t", 2)
            out.append((rid, read, text))
    return out


def load_benign():
    path = os.path.join(REPO, "tests", "corpus", "benign.txt")
    with open(path, encoding="utf-8") as f:
        return [ln.rstrip("\n") for ln in f
                if ln.strip() and not ln.startswith("#")]


PACKS = load_packs()


def action_of(rule_id):
    return PACKS[rule_id]["action"]


def reason_of(rule_id):
    return PACKS[rule_id]["reason"]


def signal_of(rule_id):
    """(signal kind, weight) of a rule; ("none", 0) without a signal."""
    r = PACKS[rule_id]
    kind = r.get("signal", "none")
    return kind, int(r.get("weight", 0)) if kind != "none" else 0


def risk_score(masses):
    """A conversation side's score (policy/risk.h): each signal kind counts
    once at its mass, and the sum is multiplied by 1 + 0.5 per kind beyond
    the first; rounded."""
    m = [v for v in masses.values() if v >= 1]
    return int(sum(m) * (1 + 0.5 * (len(m) - 1)) + 0.5) if m else 0


def risk_steps(rule_ids):
    """The sender's score after each message of a conversation, one rule
    each (a repeated kind adds a quarter of its weight, up to twice it)."""
    masses, out = {}, []
    for rid in rule_ids:
        kind, w = signal_of(rid)
        if kind != "none":
            old = masses.get(kind)
            masses[kind] = w if old is None else min(old + w / 4.0, 2.0 * w)
        out.append(risk_score(masses))
    return out


def unique(text):
    """text with a tail of consonants that no rule reads. The same text
    (as folded: "t'as quеl âge" is "t'as quel âge") from duplicate_sessions
    sessions within a minute is refused as a raid (DUPLICATE), a limit
    salonlib.DEFAULTS can only raise to 8: the texts this module sends as
    they are (the corpora, CASES, GROOMING) go out from at most four
    sessions each, and repeated helper texts are made unique."""
    return "%s %s" % (text, uniq_alpha(""))


# Boosters for rules whose action is none (grooming signals): alone such a
# line changes nothing anyone can see, by design. Said after a booster of
# another kind that stays under risk_tip alone, in the same conversation,
# the line takes the score past risk_tip when its signal is read, and the
# recipient gets NOTE SAFETY TIP just before it: proof, through the
# server, that the line's signal counted. (rule, text), one signal each.
BOOSTERS = {
    "fr": [("fr.grooming.secrecy", "c'est notre secret"),
           ("fr.grooming.school", "t'as fini tes devoirs ?")],
    "en": [("en.grooming.secrecy", "this is our secret"),
           ("en.grooming.school", "did you finish your homework?")],
}


def booster_for(rule_id):
    kind, w = signal_of(rule_id)
    for brule, text in BOOSTERS[rule_id.split(".", 1)[0]]:
        bkind, bw = signal_of(brule)
        if bkind != kind and risk_score({bkind: bw}) < RISK_TIP <= \
                risk_score({bkind: bw, kind: w}):
            return unique(text)
    pytest.fail("no booster can show %s (weight %d) crossing risk_tip"
                % (rule_id, w))


# ------------------------------------------------------------ the server

protection_server = salonlib.staff_server_fixture()


@pytest.fixture
def srv(protection_server):
    """The module's server (shipped packs, staff account mod1); this test's
    clients are closed afterwards, and a server that died fails the
    test."""
    s = protection_server
    yield s
    s.close_clients()
    if not s.alive():
        pytest.fail("server died during the test:\n" + s.stderr())


@pytest.fixture(scope="module")
def staff(protection_server):
    return staff_login(protection_server)


def person(srv, prefix, kind="tcp"):
    """A registered client with message-tags (to read msgids)."""
    return srv.client(kind, uniq_alpha(prefix), caps=["message-tags"])


def accepted_pair(srv, kinds=("tcp", "ws")):
    """(a, b): b accepted a's request, so a's private messages reach b."""
    a = person(srv, "Snd", kinds[0])
    b = person(srv, "Rcv", kinds[1])
    accept(a, b)
    return a, b


def accept(a, b):
    a.send("PRIVMSG %s :bonjour" % b.nick)
    a.expect("NOTE", params=["PRIVMSG", "PM_REQUEST_SENT", b.nick, None])
    b.expect("NOTE", params=["PRIVMSG", "PM_REQUEST", a.nick, None, None,
                             None, None])
    b.send("PMACCEPT " + a.nick)
    b.expect("PRIVMSG", params=[b.nick, "bonjour"], source=a.nick)
    a.expect("NOTE", params=["PRIVMSG", "PM_ACCEPTED", b.nick, None])


def room_with(srv, kinds=("tcp", "ws")):
    """(room, sender, watcher) in a fresh user room."""
    room = "#" + uniq_alpha("prot")
    a = person(srv, "Snd", kinds[0])
    w = person(srv, "Obs", kinds[1])
    a.join(room)
    w.join(room)
    a.expect("JOIN", source=w.nick)
    return room, a, w


def sentinel(sender, target, watcher):
    """A benign message after a refused one: once the watcher has it,
    anything the refused message delivered would have come first."""
    text = "sentinelle " + uniq_alpha("")
    sender.send("PRIVMSG %s :%s" % (target, text))
    return watcher.expect("PRIVMSG", params=[watcher.nick
                                             if not target.startswith("#")
                                             else target, text],
                          source=sender.nick)


def delivered(watcher, sender, text):
    return [ln for ln in watcher.history if ln.command == "PRIVMSG"
            and ln.nick == sender.nick and ln.params[-1] == text]


def assert_not_delivered(sender, target, watcher, text):
    sentinel(sender, target, watcher)
    assert not delivered(watcher, sender, text), \
        "%r reached %s" % (text, watcher.nick)


def automatic_reports(srv, staff, nick):
    return [r for r in open_reports(srv, staff)
            if r["reporter_nick"] == AUTOMATIC and r["reported_nick"] == nick]


def wait_report(srv, staff, nick, pred=lambda r: True, what="a report"):
    """The first automatic report about nick that satisfies pred (reports
    are written by the storage thread: poll the queue)."""
    def find():
        got = [r for r in automatic_reports(srv, staff, nick) if pred(r)]
        return got[0] if got else None
    return wait_until(find, what="%s about %s" % (what, nick))


def say(sender, target, text):
    """Send one message and return the sender's FAIL/NOTE lines about it
    (complete once the sender's sentinel PONG is in)."""
    sender.send("PRIVMSG %s :%s" % (target, text))
    sender.sync()
    got = [ln for ln in sender.pending if ln.command in ("FAIL", "NOTE")]
    sender.pending = [ln for ln in sender.pending if ln not in got]
    return got


# What a recipient may be shown about a sender just before a message.
WARNING_NOTES = (["SAFETY", "TIP"], ["PRIVMSG", "OFF_PLATFORM"])


def notes_before(watcher, msg):
    """The safety tip and off-platform warning about msg's sender that
    arrived just before msg (among the NOTE lines right before it), in
    arrival order."""
    i = watcher.history.index(msg)
    out = []
    while i > 0 and watcher.history[i - 1].command == "NOTE":
        i -= 1
        n = watcher.history[i]
        if n.params[:2] in WARNING_NOTES and n.params[2] == msg.nick:
            out.insert(0, n)
    return out


# ------------------------------------------------------------ packs loaded

def test_the_server_lists_every_pack_rule_with_its_action(srv, staff):
    status, _, doc = http_json(srv, "GET", "/api/v1/mod/rules",
                               headers=staff)
    assert status == 200, (status, doc)
    listed = {r["id"]: r for r in doc["rules"]}
    missing = sorted(set(PACKS) - set(listed))
    assert not missing, "pack rules not loaded: %r" % missing
    wrong = [(rid, listed[rid]["action"], r["action"])
             for rid, r in PACKS.items() if listed[rid]["action"] != r["action"]]
    assert not wrong, wrong
    assert all(listed[rid]["enabled"] for rid in PACKS
               if PACKS[rid].get("enabled", "true") == "true")
    # The pack file it came from: <lang>/<file>, after however the rules
    # directory was named.
    def names_file(origin, path):
        pack = path.split("/", 1)[1]
        return origin == pack or origin.endswith("/" + pack)
    wrong = [(rid, listed[rid]["origin"]) for rid in PACKS
             if not names_file(listed[rid]["origin"], PACKS[rid]["file"])]
    assert not wrong, wrong


# ------------------------------------------------------------ each action

BLOCK_ROOM = ("fr.scams.premium", "appelle le 08 99 12 34 56")
BLOCK_PRIVATE = ("fr.scams.premium", "envoie CHAT au 81234")
HOLD_ROOM = ("fr.doxxing.knows", "je vais balancer ton adresse")
HOLD_PRIVATE = ("fr.doxxing.knows", "j'ai ton adresse")
HOLD_RELEASED = ("en.doxxing.knows", "your address is on my screen")
FLAG_ROOM = ("fr.doxxing.address", "j'habite au 12 rue de la paix")
WARN_PRIVATE = ("fr.offplatform.apps", "ajoute moi sur whatsapp stp")


@pytest.mark.parametrize("where", ["room", "private"])
def test_block_refuses_with_the_rules_reason_and_delivers_nothing(srv, where):
    rule, text = BLOCK_ROOM if where == "room" else BLOCK_PRIVATE
    assert action_of(rule) == "block"
    if where == "room":
        target, a, w = room_with(srv)
    else:
        a, w = accepted_pair(srv)
        target = w.nick
    a.send("PRIVMSG %s :%s" % (target, text))
    fail = a.expect("FAIL", params=["PRIVMSG", "MESSAGE_BLOCKED", target,
                                    None])
    assert fail.params[3] == reason_of(rule), fail.raw
    assert_not_delivered(a, target, w, text)
    a.assert_none("NOTE", params=["PRIVMSG", "HELD_FOR_REVIEW", None, None])


def held_report(srv, staff, a, rule, kind, target, text):
    rep = wait_report(srv, staff, a.nick, lambda r: "held" in r,
                      "a held-message report")
    assert rep["rule"] == {"id": rule, "name": PACKS[rule]["name"]}, rep
    assert rep["held"] == {"state": "held", "kind": kind, "target": target,
                           "text": text}, rep
    assert rep["category"] == PACKS[rule]["category"], rep
    return rep


@pytest.mark.parametrize("where", ["room", "private"])
def test_hold_keeps_a_message_until_a_moderator_releases_it(srv, staff,
                                                            where):
    rule, text = HOLD_ROOM if where == "room" else HOLD_RELEASED
    assert action_of(rule) == "hold"
    if where == "room":
        target, a, w = room_with(srv, ("ws", "tcp"))
    else:
        a, w = accepted_pair(srv, ("ws", "tcp"))
        target = w.nick
    a.send("PRIVMSG %s :%s" % (target, text))
    held = a.expect("NOTE", params=["PRIVMSG", "HELD_FOR_REVIEW", target,
                                    None])
    assert_not_delivered(a, target, w, text)
    rep = held_report(srv, staff, a, rule, where, target, text)
    status, doc = staff_action(srv, staff, action="release",
                               report_id=rep["id"], reason="pas une menace")
    assert status == 200, doc
    got = w.expect("PRIVMSG", params=[target, text], source=a.nick)
    assert got.tags.get("msgid"), got.raw
    a.expect("NOTE", params=["PRIVMSG", "RELEASED", target, None])
    # Decided: out of the open queue (or marked released).
    left = [r for r in open_reports(srv, staff) if r["id"] == rep["id"]]
    assert not left or left[0]["held"]["state"] == "released", left
    assert held.params[3] == HELD_TEXT, held.raw


def test_hold_then_discard_delivers_nothing(srv, staff):
    rule, text = HOLD_PRIVATE
    a, b = accepted_pair(srv)
    a.send("PRIVMSG %s :%s" % (b.nick, text))
    held = a.expect("NOTE", params=["PRIVMSG", "HELD_FOR_REVIEW", b.nick,
                                    None])
    assert_not_delivered(a, b.nick, b, text)
    rep = held_report(srv, staff, a, rule, "private", b.nick, text)
    status, doc = staff_action(srv, staff, action="discard",
                               report_id=rep["id"], reason="menace")
    assert status == 200, doc
    assert_not_delivered(a, b.nick, b, text)
    left = [r for r in open_reports(srv, staff) if r["id"] == rep["id"]]
    assert not left or left[0]["held"]["state"] == "discarded", left
    # A decided report cannot be released afterwards.
    status, doc = staff_action(srv, staff, action="release",
                               report_id=rep["id"], reason="finalement")
    assert status != 200, doc
    assert_not_delivered(a, b.nick, b, text)
    assert held.params[3] == HELD_TEXT, held.raw


def test_flag_delivers_and_reports_with_the_message_as_evidence(srv, staff):
    rule, text = FLAG_ROOM
    assert action_of(rule) == "flag"
    room, a, w = room_with(srv)
    a.send("PRIVMSG %s :%s" % (room, text))
    got = w.expect("PRIVMSG", params=[room, text], source=a.nick)
    msgid = got.tags["msgid"]
    a.assert_none("FAIL")
    rep = wait_report(srv, staff, a.nick, lambda r: r.get("rule"),
                      "a flag report")
    assert rep["rule"] == {"id": rule, "name": PACKS[rule]["name"]}, rep
    assert rep["msgid"] == msgid and "held" not in rep, rep
    assert rep["where"] == room, rep
    status, _, detail = http_json(srv, "GET", "/api/v1/mod/reports/%d"
                                  % rep["id"], headers=staff)
    assert status == 200, detail
    ev = [m for m in detail["evidence"] if m.get("msgid") == msgid]
    assert ev and ev[0]["text"] == text, detail["evidence"]


def off_platform_seen(a, b, text):
    """a sends text to b; returns whether b was warned just before it
    (asserting that a was told exactly when b was)."""
    fb = say(a, b.nick, text)
    got = b.expect("PRIVMSG", params=[b.nick, text], source=a.nick)
    before = notes_before(b, got)
    warned = [n for n in before if n.params[:3] == ["PRIVMSG", "OFF_PLATFORM",
                                                    a.nick]]
    told = [n for n in fb if n.params[:3] == ["PRIVMSG", "OFF_PLATFORM_SENT",
                                              b.nick]]
    assert not [n for n in fb if n.command == "FAIL"], fb
    if warned:
        assert warned[0].params[3].strip(), warned[0].raw
        assert before[-1] is warned[0], before
    assert bool(warned) == bool(told), (before, fb)
    return bool(warned)


def test_off_platform_warns_the_recipient_until_they_have_talked_enough(srv):
    rule, text = WARN_PRIVATE
    assert action_of(rule) == "warn"
    a, b = accepted_pair(srv, ("ws", "tcp"))
    assert off_platform_seen(a, b, text)
    exchanged = 2           # "bonjour" and the text
    # A few replies: still a near-stranger, still warned.
    for i in range(2):
        b.send("PRIVMSG %s :reponse %d" % (a.nick, i))
        a.expect("PRIVMSG", params=[a.nick, "reponse %d" % i])
        exchanged += 1
    assert off_platform_seen(a, b, "on continue sur telegram ?")
    exchanged += 1
    while exchanged <= FRICTION_MESSAGES + 1:
        sender, to = (a, b) if exchanged % 2 else (b, a)
        sender.send("PRIVMSG %s :on parle %d" % (to.nick, exchanged))
        to.expect("PRIVMSG", params=[to.nick, "on parle %d" % exchanged])
        exchanged += 1
    # More than friction_messages exchanged: no more warnings.
    assert not off_platform_seen(a, b, "t'as snap ?")
    assert not off_platform_seen(a, b, "t'as whatsapp ?")


def test_off_platform_in_a_room_warns_nobody(srv):
    room, a, w = room_with(srv)
    fb = say(a, room, "moi j'ai pas whatsapp")
    got = w.expect("PRIVMSG", params=[room, "moi j'ai pas whatsapp"])
    assert not fb and not notes_before(w, got), (fb, notes_before(w, got))


# ------------------------------------------------------------ every category

# (pack category, rule id, read, text, spelling): both languages, a plain
# and a disguised spelling per category, all from tests/corpus/positive.tsv.
CASES = [
    # off-platform: apps, handles, phone numbers, e-mail
    ("offplatform", "fr.offplatform.apps", "private", "ajoute moi sur whatsapp stp", "plain"),
    ("offplatform", "fr.offplatform.apps", "private", "sn4pch4t c plus simple", "leet"),
    ("offplatform", "fr.offplatform.apps", "private", "t'as ѕnар ?", "cyrillic"),
    ("offplatform", "fr.offplatform.apps", "private", "t'as un s.n.a.p ?", "separators"),
    ("offplatform", "fr.offplatform.apps", "private", "t'as whatsaaaap ?", "repeats"),
    ("offplatform", "fr.offplatform.apps", "private", "on continue sur télégram ?", "accents"),
    ("offplatform", "fr.offplatform.handle", "private", "c'est quoi ton insta ?", "plain"),
    ("offplatform", "fr.offplatform.handle", "private", "t'as 1nst4 ?", "leet"),
    ("offplatform", "fr.offplatform.phone", "private", "appelle moi au 06 12 34 56 78", "plain"),
    ("offplatform", "fr.offplatform.phone", "private", "０６１２３４５６７８", "full-width"),
    ("offplatform", "fr.offplatform.phone", "private", "o6 12 34 56 78", "leet"),
    ("offplatform", "fr.offplatform.phone_words", "private", "zéro six douze trente quatre cinquante six soixante dix huit", "words"),
    ("offplatform", "fr.offplatform.email", "private", "écris moi à lola.dupont@gmail.com", "plain"),
    ("offplatform", "fr.offplatform.email", "private", "lola arobase hotmail point fr", "words"),
    # (a text two equally strong rules match names the one loaded first:
    # "mon insta c'est @lola.paris" is also en.offplatform.email_room)
    ("offplatform", "fr.offplatform.handle_room", "room", "écrivez moi sur telegram", "plain"),
    ("offplatform", "fr.offplatform.handle_room", "room", "4joutez m0i sur sn4p", "leet"),
    ("offplatform", "fr.offplatform.phone_room", "room", "+33 (0)6 12 34 56 78", "plain"),
    ("offplatform", "fr.offplatform.email_room", "room", "écrivez à marc arobase gmail point com", "words"),
    # grooming signals
    ("grooming", "fr.grooming.age", "private", "tu as quel age toi", "plain"),
    ("grooming", "fr.grooming.age", "private", "t'as quеl âge", "cyrillic"),
    ("grooming", "fr.grooming.asv", "private", "A.S.V", "separators"),
    ("grooming", "fr.grooming.school", "private", "tu vas au c0ll3g3 ?", "leet"),
    ("grooming", "fr.grooming.secrecy", "private", "n0tr3 s3cr3t ok ?", "leet"),
    ("grooming", "fr.grooming.photo", "private", "env0ie une ph0to", "leet"),
    ("grooming", "fr.grooming.minor_age", "private", "j'ai 14 ans", "plain"),
    ("grooming", "fr.grooming.minor_age", "room", "j’ai 16 ans !", "apostrophe"),
    ("grooming", "fr.grooming.secrecy_parents", "private", "ne le dis pas à ta mère", "plain"),
    ("grooming", "fr.grooming.secrecy_parents", "private", "dis rien a tes pаrents", "cyrillic"),
    # non-consent and drugging
    ("nonconsent", "fr.nonconsent.insu", "room", "qui veut venir la baiser à son insu", "plain"),
    ("nonconsent", "fr.nonconsent.insu", "room", "à sοn insu", "greek"),
    ("nonconsent", "fr.nonconsent.state", "room", "elle dоrt, viens la b.a.i.s.e.r", "cyrillic+separators"),
    ("nonconsent", "fr.nonconsent.spike", "private", "mets du ghb dans son verre", "plain"),
    ("nonconsent", "fr.nonconsent.spike", "private", "un peu de GHB dans sоn verre", "cyrillic"),
    ("nonconsent", "fr.nonconsent.drug", "room", "la dr0guer c'est facile", "leet"),
    # ("du g.h.b" is also en.nonconsent.substances, loaded first: a tie)
    ("nonconsent", "fr.nonconsent.substances", "room", "la d.r.o.g.u.e du violeur", "separators"),
    # child safety: the mildest trading vocabulary
    ("csam", "fr.csam.trade", "room", "échange photos d'ados", "plain"),
    ("csam", "fr.csam.trade", "private", "v3nds ph0tos de mineures", "leet"),
    # threats
    ("threats", "fr.threats.violence", "private", "je vais te tuer", "plain"),
    ("threats", "fr.threats.violence", "private", "j3 v4is t3 bu73r", "leet"),
    ("threats", "fr.threats.find", "private", "je vais te retrouver", "plain"),
    ("threats", "fr.threats.find", "private", "jе vais te retrouver !!!", "cyrillic"),
    # doxxing
    ("doxxing", "fr.doxxing.knows", "private", "je sais où tu habites", "plain"),
    ("doxxing", "fr.doxxing.knows", "private", "je s4is ou tu h4bites", "leet"),
    ("doxxing", "fr.doxxing.address", "room", "il vit au 14 allée des Châtaigniers", "accents"),
    # scams
    ("scams", "fr.scams.premium", "room", "appelle le 08 99 12 34 56", "plain"),
    ("scams", "fr.scams.premium", "private", "tape SEXY au 7１２34", "full-width"),
    ("scams", "fr.scams.sextortion", "private", "j'ai ta vidéo, paie 500€ sinon je publie", "plain"),
    ("scams", "fr.scams.sextortion", "private", "sinоn je publie", "cyrillic"),
    ("scams", "fr.scams.giftcard", "private", "achete moi une carte gооgle play", "cyrillic"),
    ("scams", "fr.scams.vouchers", "private", "des c0upons pcs", "leet"),
    ("scams", "fr.scams.camsite", "room", "c4m gr4tuite", "leet"),
    # spam
    ("spam", "fr.spam.shortener", "room", "regarde bit.ly/3xYz", "plain"),
    ("spam", "fr.spam.shortener", "room", "bіt.ly/abc", "cyrillic"),
    ("spam", "fr.spam.prize", "room", "Félicitations vous avez gagné un iPhone !", "plain"),
    ("spam", "fr.spam.prize", "room", "g4gn3z de l'argent", "leet"),
    ("spam", "fr.spam.crypto", "room", "tr4ding 300€ par jour", "leet"),

    ("offplatform", "en.offplatform.apps", "private", "add me on whatsapp", "plain"),
    ("offplatform", "en.offplatform.apps", "private", "let's talk on telegrаm", "cyrillic"),
    ("offplatform", "en.offplatform.apps", "private", "d1sc0rd?", "leet"),
    ("offplatform", "en.offplatform.apps", "private", "hmu on whatsaaaapp", "repeats"),
    ("offplatform", "en.offplatform.apps", "private", "k.i.k me", "separators"),
    ("offplatform", "en.offplatform.handle", "private", "what's your snap?", "plain"),
    ("offplatform", "en.offplatform.handle", "private", "do you have an 1nst4?", "leet"),
    ("offplatform", "en.offplatform.phone", "private", "call me at 555-867-5309", "plain"),
    ("offplatform", "en.offplatform.phone", "private", "４１５５５５２６７１", "full-width"),
    ("offplatform", "en.offplatform.email", "private", "email me at jess.smith@gmail.com", "plain"),
    ("offplatform", "en.offplatform.email", "private", "jess at gmail dot com", "words"),
    ("offplatform", "en.offplatform.handle_room", "room", "my insta is @jess.nyc", "plain"),
    ("offplatform", "en.offplatform.handle_room", "room", "a.d.d m.e on kik", "separators"),
    ("grooming", "en.grooming.age", "private", "how old are you?", "plain"),
    ("grooming", "en.grooming.age", "private", "hоw old are you", "cyrillic"),
    ("grooming", "en.grooming.age", "private", "h0w 0ld are y0u", "leet"),
    ("grooming", "en.grooming.meeting", "private", "m.e.e.t m.e", "separators"),
    ("grooming", "en.grooming.photo", "private", "s3nd p1cs", "leet"),
    ("grooming", "en.grooming.minor_age", "private", "i'm 14", "plain"),
    ("grooming", "en.grooming.minor_age", "private", "i’m 15.", "apostrophe"),
    ("grooming", "en.grooming.secrecy_parents", "private", "don't tell your mom", "plain"),
    ("grooming", "en.grooming.secrecy_parents", "private", "dont tell ur m0m", "leet"),
    ("nonconsent", "en.nonconsent.unaware", "room", "do it without her consent", "plain"),
    ("nonconsent", "en.nonconsent.unaware", "room", "w1th0ut her c0nsent", "leet"),
    ("nonconsent", "en.nonconsent.knowing", "private", "withоut her knowing we film her", "cyrillic"),
    ("nonconsent", "en.nonconsent.spike", "private", "put ghb in her drink", "plain"),
    ("nonconsent", "en.nonconsent.drug", "private", "r00fies anyone?", "leet"),
    ("csam", "en.csam.trade", "private", "selling underage content", "plain"),
    ("csam", "en.csam.trade", "room", "pr3t33n links", "leet"),
    ("threats", "en.threats.violence", "private", "i'll kill you", "plain"),
    ("threats", "en.threats.violence", "private", "i'll k1ll y0u", "leet"),
    ("threats", "en.threats.find", "private", "i'll find you", "plain"),
    ("threats", "en.threats.find", "private", "i'll f1nd you", "leet"),
    ("doxxing", "en.doxxing.knows", "private", "i know where you live", "plain"),
    ("doxxing", "en.doxxing.knows", "private", "i kn0w where y0u live", "leet"),
    ("doxxing", "en.doxxing.address", "room", "he lives at 221 baker street", "plain"),
    ("scams", "en.scams.premium", "room", "call 1-900-555-0199", "plain"),
    ("scams", "en.scams.premium", "room", "txt HOT to 8９123", "full-width"),
    ("scams", "en.scams.sextortion", "private", "i recorded your video, pay or i post it", "plain"),
    ("scams", "en.scams.giftcard", "private", "get me a g00gle play card", "leet"),
    ("spam", "en.spam.prize", "room", "you have won a free iphone", "plain"),
    ("spam", "en.spam.prize", "room", "cl1ck h3re", "leet"),
    ("spam", "en.spam.crypto", "room", "btc g u a r a n t e e d", "spaced"),
]


def case_id(c):
    return "%s-%s-%s" % (c[1], c[2], c[4])


class Seen:
    """What one message led to: outcomes, a subset of "block", "hold",
    "warn" (the recipient warned just before it), "tip" (a safety tip just
    before it), "flag" (an automatic report naming a rule); the FAIL or the
    delivered line; the rule report if any."""

    def __init__(self):
        self.outcomes, self.line, self.report = set(), None, None


def observe(srv, staff, rule, read, text):
    """Say text in read ("room", or "private" in an accepted
    conversation) from a fresh sender, after a booster for rules whose
    action is none; return a Seen."""
    seen = Seen()
    booster = booster_for(rule) if action_of(rule) == "none" else None
    if read == "room":
        target, a, w = room_with(srv)
    else:
        a, w = accepted_pair(srv)
        target = w.nick
    if booster:
        assert not say(a, target, booster)
        got = w.expect("PRIVMSG", params=[None, booster], source=a.nick)
        assert not notes_before(w, got), "booster alone: %r" % (
            notes_before(w, got),)
    fb = say(a, target, text)
    fails = [ln for ln in fb if ln.command == "FAIL"]
    if fails:
        assert [f.params[:3] for f in fails] == [
            ["PRIVMSG", "MESSAGE_BLOCKED", target]], fails
        assert_not_delivered(a, target, w, text)
        seen.outcomes.add("block")
        seen.line = fails[0]
        return seen
    if [n for n in fb if n.params[:2] == ["PRIVMSG", "HELD_FOR_REVIEW"]]:
        assert_not_delivered(a, target, w, text)
        seen.outcomes.add("hold")
        seen.report = wait_report(srv, staff, a.nick, lambda r: "held" in r)
        return seen
    seen.line = w.expect("PRIVMSG", params=[None, text], source=a.nick)
    before = [n.params[:2] for n in notes_before(w, seen.line)]
    if ["PRIVMSG", "OFF_PLATFORM"] in before:
        seen.outcomes.add("warn")
    if ["SAFETY", "TIP"] in before:
        seen.outcomes.add("tip")
    # Flag: a report naming the sender. Reports are written in order, so
    # once a later flagged line's report is in, this one's would be too.
    probe_text = unique(FLAG_ROOM[1])
    a.send("PRIVMSG %s :%s" % (target, probe_text))
    probe = w.expect("PRIVMSG", params=[None, probe_text], source=a.nick)
    wait_report(srv, staff, a.nick,
                lambda r: r["msgid"] == probe.tags["msgid"],
                "the probe's flag report")
    rep = [r for r in automatic_reports(srv, staff, a.nick)
           if r.get("rule") and r["msgid"] != probe.tags["msgid"]]
    if rep:
        seen.outcomes.add("flag")
        seen.report = rep[0]
    return seen


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_each_category_plain_and_disguised(srv, staff, case):
    _, rule, read, text, _ = case
    want = action_of(rule)
    seen = observe(srv, staff, rule, read, text)
    # A rule's own signal weight may be enough for a safety tip on its own
    # (a conversation's score, so in private only).
    kind, weight = signal_of(rule)
    tip = want == "none" or (read == "private" and
                             risk_score({kind: weight}) >= RISK_TIP)
    expected = ({want} if want != "none" else set()) | ({"tip"} if tip else
                                                         set())
    assert seen.outcomes == expected, \
        "%s (%s) %r: expected %s, got %s" % (rule, read, text,
                                             sorted(expected),
                                             sorted(seen.outcomes))
    if want == "block":
        assert seen.line.params[3] == reason_of(rule), seen.line.raw
    if want in ("hold", "flag"):
        assert seen.report["rule"] == {"id": rule,
                                       "name": PACKS[rule]["name"]}, \
            seen.report
    if want == "flag":
        assert seen.report["msgid"] == seen.line.tags["msgid"], seen.report
    if want == "hold":
        assert seen.report["held"]["text"] == text, seen.report


def test_cases_cover_every_category_in_both_languages():
    """The table above, not the server: each category has a plain and a
    disguised case in each language."""
    have = {}
    for cat, rule, _, _, spelling in CASES:
        lang = rule.split(".", 1)[0]
        have.setdefault((cat, lang), set()).add(
            "plain" if spelling == "plain" else "disguised")
    cats = {c[0] for c in CASES}
    missing = [(c, l) for c in sorted(cats) for l in ("fr", "en")
               if have.get((c, l)) != {"plain", "disguised"}]
    assert not missing, missing
    corpus = set(load_positive())
    invented = [c for c in CASES if (c[1], c[2], c[3]) not in corpus]
    assert not invented, invented


# ------------------------------------------------------------ corpora

def register_many(srv, prefix, n):
    """n fresh registered TCP sessions, registered all at once."""
    cs = []
    for _ in range(n):
        nick = uniq_alpha(prefix)
        c = srv.tcp(name=nick)
        c.send_many(["NICK " + nick, "USER u 0 * :u"])
        c.nick = nick
        cs.append(c)
    for c in cs:
        c.expect("001")
        c.expect(lambda l: l.command in ("376", "422"))
        c.pending = []
    return cs


def drop(srv, clients):
    for c in clients:
        c.close()
        srv.clients.remove(c)


class Said:
    """One line one sender said: what the sender was told about it (FAIL
    and NOTE lines), the line its watcher got (or None), the safety tip
    and warning just before that line, and the rule reports naming its
    msgid."""

    def __init__(self, nick, where, to, text, told):
        self.nick, self.where, self.to, self.text = nick, where, to, text
        self.told = told
        self.got, self.before, self.reports = None, [], []

    def codes(self):
        return ([ln.params[1] for ln in self.told] +
                [ln.params[1] for ln in self.before] +
                ["report " + r["rule"]["id"] for r in self.reports])


class Replay:
    """Lines said by fresh sessions to a watched room or privately to
    watchers who accept everyone; fast, because each chunk of sessions
    registers, joins and talks in pipelined writes.

    The same text (as the server folds it) from several sessions within a
    minute is refused as a raid (DUPLICATE, see unique()), and the corpora
    hold several spellings of one text. So
    the items whose main text folds alike go to one session, each to its
    own private watcher (its own conversation, its own risk score); one
    session repeating a text to a few places is what DEFAULTS allows."""

    # Every sender hears the others in the room: chunks stay small.
    CHUNK = 25
    GROUP_MAX = 6

    def __init__(self, srv, staff):
        self.srv, self.staff = srv, staff
        self.room = "#" + uniq_alpha("replay")
        self.rw = person(srv, "Rw", "ws")
        self.rw.join(self.room)
        self.pws = []

    def watcher(self, i):
        while len(self.pws) <= i:
            pw = person(self.srv, "Pw", "tcp")
            salonlib.allow_private(pw)
            self.pws.append(pw)
        return self.pws[i]

    def folded(self, text):
        status, _, doc = http_json(self.srv, "POST", "/api/v1/mod/rules/test",
                                   {"keywords": "zzzz", "text": text},
                                   headers=self.staff)
        assert status == 200, (status, doc)
        return doc["folded"]

    def run(self, items):
        """items: [(key, [(where, text), ...])], the last line the main
        one; returns {key: [Said]}."""
        by_fold = {}
        for item in items:
            by_fold.setdefault(self.folded(item[1][-1][1]), []).append(item)
        # One session says a text to at most GROUP_MAX watchers and the
        # room: under the duplicate_targets DEFAULTS allows.
        groups = [g[i:i + self.GROUP_MAX] for g in by_fold.values()
                  for i in range(0, len(g), self.GROUP_MAX)]
        for i in range(max(len(g) for g in groups)):
            self.watcher(i)
        out = {}
        for i in range(0, len(groups), self.CHUNK):
            out.update(self._chunk(groups[i:i + self.CHUNK]))
        self._reports(out)
        return out

    def _chunk(self, groups):
        senders = register_many(self.srv, "Rp", len(groups))
        for s in senders:
            s.send("JOIN " + self.room)
        for s in senders:
            s.expect("366", pred=lambda l: l.params[1] == self.room)
            s.pending = []
        plan = []
        for s, group in zip(senders, groups):
            batch, said = [], []
            for j, (key, lines) in enumerate(group):
                for k, (where, text) in enumerate(lines):
                    to = self.room if where == "room" else self.watcher(j).nick
                    tok = "said-%d-%d" % (j, k)
                    batch += ["PRIVMSG %s :%s" % (to, text), "PING :" + tok]
                    said.append((key, tok, Said(s.nick, where, to, text,
                                                None)))
            s.send_many(batch)
            plan.append((s, said))
        out = {}
        for s, said in plan:
            for key, tok, x in said:
                x.told, _ = s.expect_all(
                    lambda l: l.command in ("FAIL", "NOTE"),
                    until=lambda l, tok=tok: l.command == "PONG"
                    and l.params[-1] == tok)
                out.setdefault(key, []).append(x)
        sync_all(self.rw, *self.pws)
        waiting = [x for said in out.values() for x in said]
        for w in [self.rw] + self.pws:
            for ln in w.pending:
                if ln.command != "PRIVMSG":
                    continue
                for x in waiting:
                    if (x.got is None and x.nick == ln.nick and
                            x.to == ln.params[0] and x.text == ln.params[-1]):
                        x.got = ln
                        x.before = notes_before(w, ln)
                        break
            w.pending = []
        drop(self.srv, senders)
        return out

    def _reports(self, out):
        """Gives each line the rule reports naming its msgid, once a report
        made after every line is in the queue (reports are written in
        order)."""
        (s,) = register_many(self.srv, "Rp", 1)
        s.join(self.room)
        s.send("PRIVMSG %s :%s" % (self.room, unique(FLAG_ROOM[1])))
        wait_report(self.srv, self.staff, s.nick,
                    what="the sentinel flag report")
        drop(self.srv, [s])
        self.by_nick, by_msgid = {}, {}
        for r in open_reports(self.srv, self.staff):
            if r["reporter_nick"] != AUTOMATIC:
                continue
            self.by_nick.setdefault(r["reported_nick"], []).append(r)
            if r.get("rule") and r["msgid"]:
                by_msgid.setdefault(r["msgid"], []).append(r)
        for said in out.values():
            for x in said:
                if x.got is not None:
                    x.reports = by_msgid.get(x.got.tags.get("msgid"), [])


PROTECTIVE = {"MESSAGE_BLOCKED", "MUTED", "HELD_FOR_REVIEW", "OFF_PLATFORM",
              "OFF_PLATFORM_SENT", "TIP", "PM_RESTRICTED"}


def test_every_positive_corpus_message_meets_some_protection(srv, staff):
    cases = [c for c in load_positive() if c[1] in ("room", "private")]
    items = []
    for n, (rule, read, text) in enumerate(cases):
        lines = [(read, text)]
        if action_of(rule) == "none":
            lines.insert(0, (read, booster_for(rule)))
        items.append((n, lines))
    t0 = time.monotonic()
    said = Replay(srv, staff).run(items)
    missed = []
    for n, (rule, read, text) in enumerate(cases):
        x = said[n][-1]
        if action_of(rule) == "none":
            boost = said[n][0]
            assert not boost.codes(), (rule, boost.text, boost.codes())
            ok = x.got is not None and [
                ln.params[:2] for ln in x.before] == [["SAFETY", "TIP"]]
        else:
            ok = set(x.codes()) & PROTECTIVE or x.reports
        if not ok:
            missed.append("%s\t%s\t%s  -> %s" % (rule, read, text,
                                                 x.codes() or "delivered"))
    print("\npositive corpus: %d room/private lines replayed in %.1f s, "
          "%d without protection" % (len(cases), time.monotonic() - t0,
                                     len(missed)))
    assert not missed, "no protective outcome for:\n" + "\n".join(missed)


def test_benign_corpus_is_left_alone(srv, staff):
    # tests/corpus/benign.txt: one everyday message a line, French and
    # English (1,477 lines when this test was written; the count is
    # printed). Each line is said by a fresh session, once in a room and
    # once privately, so that no line inherits another's risk score.
    lines = load_benign()
    assert len(lines) >= 100, len(lines)
    t0 = time.monotonic()
    rp = Replay(srv, staff)
    said = rp.run([(n, [("room", t), ("private", t)])
                   for n, t in enumerate(lines)])
    flagged = []
    for n, text in enumerate(lines):
        why = []
        for x in said[n]:
            if x.got is None:
                why.append("%s: not delivered" % x.where)
            if x.codes():
                why.append("%s: %s" % (x.where, ",".join(x.codes())))
        # Any automatic report about the session (a risk score too).
        for r in rp.by_nick.get(said[n][0].nick, []):
            if not r.get("rule"):
                why.append("report: risk %s" % r.get("risk"))
        if why:
            flagged.append("%r: %s" % (text, "; ".join(why)))
    rate = 100.0 * len(flagged) / len(lines)
    print("\nbenign corpus: %d lines (each in a room and in private) in "
          "%.1f s, %d flagged (%.2f %%)" % (len(lines), time.monotonic() - t0,
                                             len(flagged), rate))
    for f in flagged:
        print("  flagged: " + f)
    assert rate < 1.0, "%d of %d benign lines flagged (%.2f %%):\n%s" % (
        len(flagged), len(lines), rate, "\n".join(flagged))


# ------------------------------------------------------------ conversation risk

# Three lines of one person to another, and the rules whose signals they
# carry: an age probe, hiding from parents, another app.
GROOMING = [("t'as quel âge ?", "fr.grooming.age"),
            ("ne dis rien à tes parents", "fr.grooming.secrecy_parents"),
            ("ajoute moi sur snap", "fr.offplatform.apps")]
# With the shipped weights (docs/rules.md) the three reach risk_review but
# not risk_restrict; one more kind takes the conversation past it, so that
# the restriction and its lifting are tested too.
FOLLOW_UP = ("tu vas au collège où ?", "fr.grooming.school")


def first_step(steps, threshold):
    """Index of the message whose score first reaches threshold, or None."""
    return next((i for i, v in enumerate(steps) if v >= threshold), None)


def risk_reports(srv, staff, nick):
    return sorted([r for r in automatic_reports(srv, staff, nick)
                   if "risk" in r], key=lambda r: r["id"])


def test_grooming_conversation_tip_review_restriction_and_lifting(srv, staff):
    lines = list(GROOMING)
    # The packs make these three lines a conversation worth a look.
    assert first_step(risk_steps([r for _, r in lines]), RISK_REVIEW) \
        is not None, risk_steps([r for _, r in lines])
    if risk_steps([r for _, r in lines])[-1] < RISK_RESTRICT:
        lines.append(FOLLOW_UP)
    steps = risk_steps([r for _, r in lines])
    tip_at = first_step(steps, RISK_TIP)
    review_at = first_step(steps, RISK_REVIEW)
    restrict_at = first_step(steps, RISK_RESTRICT)
    assert restrict_at is not None, steps
    a, b = accepted_pair(srv)
    c = person(srv, "Thr", "ws")
    for i, (text, _) in enumerate(lines):
        fb = say(a, b.nick, text)
        got = b.expect("PRIVMSG", params=[b.nick, text], source=a.nick)
        tips = [x for x in notes_before(b, got)
                if x.params[:2] == ["SAFETY", "TIP"]]
        assert len(tips) == (i == tip_at), (i, text, steps, tips)
        assert all(x.params[3].strip() for x in tips)
        restricted = [x for x in fb
                      if x.params[:3] == ["PRIVMSG", "PM_RESTRICTED", "*"]]
        assert len(restricted) == (i == restrict_at), (i, steps, fb)
    b.sync()
    assert len([x for x in b.history if x.params[:2] == ["SAFETY", "TIP"]]) \
        == 1
    # One report per threshold crossed, with the score at that moment.
    want = sorted({review_at, restrict_at})
    reps = wait_until(lambda: (lambda r: r if len(r) >= len(want) else None)(
        risk_reports(srv, staff, a.nick)), what="the risk reports")
    # Scores decay (risk_half_life) in the milliseconds between messages:
    # a score computed at .5 may round either way.
    assert len(reps) == len(want), (reps, steps)
    assert all(abs(r["risk"] - steps[i]) <= 1 for r, i in zip(reps, want)), \
        (reps, steps)
    for r in reps:
        assert r["reporter_nick"] == AUTOMATIC, r
        assert r["category"] == "child_safety", r
        assert r["risk"] >= RISK_REVIEW, r
    # Existing conversations go on.
    a.send("PRIVMSG %s :tu es la ?" % b.nick)
    b.expect("PRIVMSG", params=[b.nick, "tu es la ?"], source=a.nick)
    assert reps[-1].get("restricted") is True, reps
    a.send("PRIVMSG %s :coucou" % c.nick)
    fail = a.expect("FAIL", params=["PRIVMSG", "PM_RESTRICTED", c.nick, None])
    assert fail.params[3].strip()
    # Nothing reached c: someone else's request arrives, a's did not.
    b.send("PRIVMSG %s :sentinelle" % c.nick)
    c.expect("NOTE", params=["PRIVMSG", "PM_REQUEST", b.nick, None, None,
                             None, None])
    assert not [x for x in c.history if a.nick in x.params]
    status, doc = staff_action(srv, staff, action="lift_restriction",
                               session=reps[-1]["reported"],
                               reason="conversation relue")
    assert status == 200, doc
    a.expect("NOTE", params=["PRIVMSG", "PM_UNRESTRICTED", "*", None])
    a.send("PRIVMSG %s :coucou" % c.nick)
    a.expect("NOTE", params=["PRIVMSG", "PM_REQUEST_SENT", c.nick, None])
    c.expect("NOTE", params=["PRIVMSG", "PM_REQUEST", a.nick, None, None,
                             None, None])


def test_the_same_lines_to_three_people_raise_no_risk(srv, staff):
    """Risk is a conversation's: spread over three conversations the lines
    never add up. A line whose own weight reaches risk_tip (hiding from
    parents, docs/rules.md) still shows its tip, in its conversation."""
    a = person(srv, "Spr")
    bs = [person(srv, "Rcv", k) for k in ("tcp", "ws", "tcp")]
    for b in bs:
        accept(a, b)
    for (text, rule), b in zip(GROOMING, bs):
        a.send("PRIVMSG %s :%s" % (b.nick, text))
        got = b.expect("PRIVMSG", params=[b.nick, text], source=a.nick)
        alone = risk_steps([rule])[0]
        assert alone < RISK_REVIEW, (rule, alone)
        tips = [x for x in notes_before(b, got)
                if x.params[:2] == ["SAFETY", "TIP"]]
        assert len(tips) == (alone >= RISK_TIP), (text, rule, alone, tips)
    # Reports are written in order: once a later flagged line's report is
    # in, a risk report from the lines above would be too.
    a.send("PRIVMSG %s :%s" % (bs[-1].nick, unique(FLAG_ROOM[1])))
    wait_report(srv, staff, a.nick,
                lambda r: (r.get("rule") or {}).get("id") == FLAG_ROOM[0])
    assert not risk_reports(srv, staff, a.nick)
    for b in bs:
        b.sync()
        assert len([x for x in b.history if x.params[:2] == ["SAFETY", "TIP"]]
                   ) <= 1
    # And a's conversations are not restricted.
    c = person(srv, "Frs")
    a.send("PRIVMSG %s :coucou" % c.nick)
    a.expect("NOTE", params=["PRIVMSG", "PM_REQUEST_SENT", c.nick, None])


# ------------------------------------------------------------ names

REFUSED_NICKS = [("Ines15ans", "fr.names.age"), ("lola14", "fr.names.age"),
                 ("collegienne", "fr.names.school"),
                 ("quatorze_ans", "fr.names.age_words"),
                 ("sexy_teen", "en.names.age"), ("schoolgirl", "en.names.school")]
AGE_WORD = re.compile(r"\b(âge|age|ans|years?|old)\b", re.I)


@pytest.mark.parametrize("nick,rule", REFUSED_NICKS)
def test_nick_refused_at_registration_and_on_change(srv, nick, rule):
    c = srv.tcp(name="reg-" + nick)
    c.send_many(["NICK " + nick, "USER u 0 * :u"])
    ln = c.expect("432")
    assert ln.params[:2] == ["*", nick], ln.raw
    assert ln.params[2] == reason_of(rule), ln.raw
    if rule.endswith(".names.age"):
        assert AGE_WORD.search(ln.params[2]), ln.raw
    # Registration goes on with another nick.
    ok = uniq_alpha("Ok")
    c.send("NICK " + ok)
    c.expect("001")
    c.nick = ok
    c.send("NICK " + nick)
    ln = c.expect("432")
    assert ln.params[:3] == [ok, nick, reason_of(rule)], ln.raw
    c.assert_none("NICK")
    c.send("WHOIS " + nick)
    c.expect("401")


@pytest.mark.parametrize("nick", ["marc", "sophie1990"])
def test_ordinary_nicks_are_accepted(srv, nick):
    c = srv.ws(nick)
    assert c.nick == nick


def test_entry_api_refuses_the_nick_with_the_rules_reason(srv):
    status, _, doc = http_json(srv, "POST", "/api/v1/session",
                               {"nick": "Ines15ans", "age": 30,
                                "gender": "woman", "region": "75",
                                "accept_rules": True})
    assert status == 400, (status, doc)
    assert doc["error"]["code"] == "nick_refused", doc
    assert doc["error"]["field"] == "nick", doc
    assert doc["error"]["message"] == reason_of("fr.names.age"), doc
    status, _, doc = http_json(srv, "POST", "/api/v1/session",
                               {"nick": uniq_alpha("Sophie"), "age": 30,
                                "gender": "woman", "region": "75",
                                "accept_rules": True})
    assert status == 201, (status, doc)


def listed(srv, c, room):
    """Whether LIST (for c) and GET /api/v1/rooms show room."""
    c.send("LIST")
    rows, _ = c.expect_all("322", until="323")
    irc = any(r.params[1] == room for r in rows)
    status, _, doc = http_json(srv, "GET", "/api/v1/rooms")
    assert status == 200
    api = any(r["name"] == room for r in doc["rooms"])
    assert irc == api, (irc, api)
    return irc


def create_pending(srv, staff, room, rule):
    """A creates room, whose name a rule holds: A is in, nobody else."""
    a = person(srv, "Crt")
    b = person(srv, "Oth", "ws")
    a.join(room)
    note = a.expect("NOTE", params=["JOIN", "ROOM_PENDING_REVIEW", room,
                                    None])
    assert note.params[3].strip()
    assert not listed(srv, b, room)
    b.send("JOIN " + room)
    b.expect("FAIL", params=["JOIN", "ROOM_PENDING_REVIEW", room, None])
    b.expect("403", pred=lambda l: l.params[1] == room)
    a.send("PRIVMSG %s :seul ici" % room)
    a.sync()
    b.assert_none("JOIN")
    assert not [x for x in b.history if x.params[-1:] == ["seul ici"]]
    rep = wait_report(srv, staff, a.nick, lambda r: "pending_room" in r,
                      "a pending-room report")
    assert rep["pending_room"] == room, rep
    assert rep["rule"]["id"] == rule, rep
    return a, b, rep


@pytest.mark.parametrize("room,rule", [
    ("#à-son-insu", "fr.nonconsent.insu"), ("#asoninsu", "fr.nonconsent.insu"),
    ("#a_son_insu", "fr.nonconsent.insu"),
    ("#without-her-consent", "en.nonconsent.unaware")])
def test_room_name_held_until_reviewed_and_closed(srv, staff, room, rule):
    a, b, rep = create_pending(srv, staff, room, rule)
    status, doc = staff_action(srv, staff, action="close_room", room=room,
                               report_id=rep["id"],
                               reason="nom de salon : non-consentement")
    assert status == 200, doc
    a.expect("PART", params=[room, None], source=a.nick)
    assert not listed(srv, b, room)


def test_benign_room_held_by_its_name_is_listed_once_approved(srv, staff):
    # A parents' room: held because "ados" names minors, fine once read.
    room = "#parents-d-ados-" + uniq_alpha("")
    a, b, rep = create_pending(srv, staff, room, "fr.names.room_minor")
    status, doc = staff_action(srv, staff, action="approve_room", room=room,
                               report_id=rep["id"],
                               reason="salon de parents")
    assert status == 200, doc
    a.expect("NOTE", params=["JOIN", "ROOM_APPROVED", room, None])
    assert listed(srv, b, room)
    b.join(room)
    a.send("PRIVMSG %s :bienvenue" % room)
    b.expect("PRIVMSG", params=[room, "bienvenue"], source=a.nick)


# ------------------------------------------------------------ topic, away

@pytest.mark.parametrize("rule,text", [
    ("fr.doxxing.knows", "je sais où tu habites"),
    ("fr.scams.premium", "appelle le 08 99 12 34 56"),
    ("fr.nonconsent.insu", "a_son_insu, entre hommes discrets"),
    ("en.nonconsent.unaware", "without her knowledge, discreet guys only"),
    ("en.scams.premium", "call 1-900-555-0199"),
])
def test_topic_refused_by_a_blocking_or_holding_rule(srv, rule, text):
    assert action_of(rule) in ("block", "hold") and "topic" in \
        PACKS[rule]["reads"]
    room, a, w = room_with(srv)
    a.send("TOPIC %s :%s" % (room, text))
    fail = a.expect("FAIL", params=["TOPIC", "TOPIC_BLOCKED", room, None])
    assert fail.params[3].strip(), fail.raw
    a.send("TOPIC %s :un sujet tranquille" % room)
    w.expect("TOPIC", params=[room, "un sujet tranquille"])
    assert not [x for x in w.history if x.command == "TOPIC"
                and x.params[-1] == text]


@pytest.mark.parametrize("rule,text", [
    ("fr.doxxing.knows", "je sais où tu habites"),
    ("fr.scams.premium", "appelle le 08 99 12 34 56"),
    ("en.doxxing.knows", "i know where you live"),
])
def test_away_refused_by_a_blocking_or_holding_rule(srv, rule, text):
    assert "away" in PACKS[rule]["reads"]
    a = person(srv, "Awy")
    w = srv.client("ws", uniq_alpha("Wat"), caps=["away-notify"])
    room = "#" + uniq_alpha("away")
    a.join(room)
    w.join(room)
    a.send("AWAY :" + text)
    fail = a.expect("FAIL", params=["AWAY", "AWAY_BLOCKED", "*", None])
    assert fail.params[3].strip(), fail.raw
    a.assert_none("306")
    a.send("AWAY :parti manger")
    a.expect("306")
    w.expect("AWAY", params=["parti manger"], source=a.nick)
    assert not [x for x in w.history if x.command == "AWAY"
                and x.params[-1:] == [text]]

"""Driver accounts: sign-up (a user and their wallet), passwords (change, reset by e-mail),
refresh-token revocation, the profile, and the RFID cards a driver links to their account.

A driver's login name is their e-mail address, lower-cased: ``username`` and ``email`` both
hold it, and the address is unique case-insensitively across both columns (an operator's user
name cannot be taken as an e-mail either).

Nothing here logs a password, a reset token or a JWT. Reset e-mails are sent by a Celery task
after commit, so a reset request takes the same time whether the address has an account or
not (the API answers 202 either way).
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.encoding import force_bytes, force_str
from django.utils.http import urlsafe_base64_decode, urlsafe_base64_encode
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from csms.models import IdTag, Transaction
from csms.services.authorization import id_tag_create, id_tag_update
from wallet.models import Wallet
from wallet.services.ledger import wallet_create

logger = logging.getLogger("wallet.auth")
cards_logger = logging.getLogger("wallet.cards")

# An account may hold this many RFID cards: each may run a session on the one wallet (cards are
# checked against its balance online, at each start: wallet.selectors.authorization; they are
# never in the stations' local lists), and a driver must not be able to fill the registry.
MAX_CARDS = 10
ID_TAG_MAX = 20  # OCPP 1.6 IdToken: CiString20Type

DUPLICATE_EMAIL = (
    "An account with this e-mail address already exists. Log in or reset the password."
)
RESET_LINK_INVALID = "This password-reset link is invalid or has expired: request a new one."


class AccountError(Exception):
    """A refused account operation; ``str()`` is the message for the driver."""


class CardUnavailable(AccountError):
    """The card exists and cannot be linked to this driver (another's, blocked, virtual)."""


class CardInUse(AccountError):
    """The card runs a session: it cannot be unlinked now."""


def email_normalize(email: str) -> str:
    """Lower-cased, surrounding whitespace removed: one account per address, however typed.
    (The whole address, local part too: providers that treat ``A@x`` and ``a@x`` as two
    mailboxes are vanishingly rare, two accounts for one person are not.)"""
    return email.strip().lower()


def _email_taken(email: str) -> bool:
    User = get_user_model()
    return User.objects.filter(Q(username__iexact=email) | Q(email__iexact=email)).exists()


def driver_sign_up(*, email: str, password: str, first_name: str = "", last_name: str = "") -> Any:
    """A new driver: the user (username = the normalized e-mail) and, in the same transaction,
    their wallet, ledger accounts and virtual id tag. ValidationError (``email`` or
    ``password``) when the address is taken or the password fails AUTH_PASSWORD_VALIDATORS
    (checked against the new user's own name and address too)."""
    User = get_user_model()
    email = email_normalize(email)
    user = User(username=email, email=email, first_name=first_name, last_name=last_name)
    try:
        password_validation.validate_password(password, user)
    except ValidationError as exc:
        raise ValidationError({"password": exc.messages}) from None
    if _email_taken(email):
        raise ValidationError({"email": DUPLICATE_EMAIL})
    user.set_password(password)
    try:
        with transaction.atomic():
            user.save()
            wallet_create(user=user)
    except IntegrityError:  # the same address signed up concurrently (username is unique)
        if _email_taken(email):
            raise ValidationError({"email": DUPLICATE_EMAIL}) from None
        raise
    logger.info("driver %s signed up (user %s)", email, user.pk)
    return user


def driver_profile_update(*, user: Any, **fields: str) -> Any:
    """Change ``first_name`` and/or ``last_name``. The e-mail address is the login name and
    cannot change here (that would need a confirmation of the new address)."""
    unknown = set(fields) - {"first_name", "last_name"}
    if unknown:
        raise ValidationError({name: "This field cannot be changed." for name in sorted(unknown)})
    if not fields:
        return user
    for name, value in fields.items():
        setattr(user, name, value.strip())
    user.full_clean(exclude=["password", "username", "email"], validate_unique=False)
    user.save(update_fields=list(fields))
    return user


# --- Tokens and passwords ---------------------------------------------------------------------


def refresh_tokens_revoke(*, user: Any) -> int:
    """Blacklist every outstanding refresh token of the user (log out every device); how many
    were blacklisted now. The access tokens they hold end within ACCESS_TOKEN_LIFETIME."""
    outstanding = OutstandingToken.objects.filter(user=user, expires_at__gt=timezone.now()).exclude(
        blacklistedtoken__isnull=False
    )
    tokens = list(outstanding.values_list("pk", flat=True))
    BlacklistedToken.objects.bulk_create(
        [BlacklistedToken(token_id=pk) for pk in tokens], ignore_conflicts=True
    )
    return len(tokens)


def _password_set(*, user: Any, password: str) -> None:
    try:
        password_validation.validate_password(password, user)
    except ValidationError as exc:
        raise ValidationError({"new_password": exc.messages}) from None
    user.set_password(password)
    user.save(update_fields=["password"])
    revoked = refresh_tokens_revoke(user=user)
    logger.info("password of user %s changed; %d refresh token(s) revoked", user.pk, revoked)


def driver_password_change(*, user: Any, new_password: str) -> None:
    """Set a new password (AUTH_PASSWORD_VALIDATORS) and log every device out. The caller has
    checked the old password. Call inside a transaction."""
    _password_set(user=user, password=new_password)


def password_reset_request(*, email: str) -> None:
    """Queue the reset e-mail (after commit) when ``email`` is a driver's; nothing otherwise.
    Staff accounts are not reset from the app: operators have the admin's own procedure."""
    email = email_normalize(email)
    User = get_user_model()
    user = (
        User.objects.filter(username__iexact=email, is_active=True, wallet__isnull=False)
        .only("pk", "password")
        .first()
    )
    if user is None or not user.has_usable_password():
        logger.info("password reset for %s: no driver account, no e-mail sent", email)
        return
    logger.info("password reset requested for %s (user %s)", email, user.pk)
    user_id = user.pk
    transaction.on_commit(lambda: _password_reset_enqueue(user_id))


def _password_reset_enqueue(user_id: int) -> None:
    from wallet import tasks  # tasks import the services

    try:
        tasks.password_reset_send.delay(user_id)
    except Exception:  # the broker is down: the driver may ask again, the API said 202
        logger.exception("password reset e-mail for user %s not queued", user_id)


def password_reset_link(*, user: Any) -> tuple[str, str, str]:
    """(uid, token, link) of a reset for ``user``. The token is Django's
    default_token_generator's: valid PASSWORD_RESET_TIMEOUT seconds, and void once the
    password changes or the user logs in."""
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    token = default_token_generator.make_token(user)
    return uid, token, settings.APP_PASSWORD_RESET_URL.format(uid=uid, token=token)


def password_reset_send(*, user_id: int) -> None:
    """Send the reset e-mail to a driver (the task's work)."""
    user = get_user_model().objects.filter(pk=user_id, is_active=True).first()
    if user is None or not user.email:
        return
    uid, token, link = password_reset_link(user=user)
    context = {
        "user": user,
        "uid": uid,
        "token": token,
        "link": link,
        "timeout_days": max(1, settings.PASSWORD_RESET_TIMEOUT // 86400),
    }
    subject = render_to_string("wallet/email/password_reset_subject.txt", context)
    body = render_to_string("wallet/email/password_reset_body.txt", context)
    send_mail(" ".join(subject.split()), body, None, [user.email])
    logger.info("password reset e-mail sent to user %s", user.pk)


def password_reset_confirm(*, uid: str, token: str, new_password: str) -> Any:
    """Set the password of the user the reset link was made for and log every device out.
    ValidationError (``token``) when the link is invalid or expired, (``new_password``) when
    the password fails the validators. Call inside a transaction."""
    User = get_user_model()
    try:
        user_id = int(force_str(urlsafe_base64_decode(uid)))
        user = User.objects.filter(pk=user_id, is_active=True, wallet__isnull=False).first()
    except (ValueError, OverflowError, TypeError):
        user = None
    if user is None or not default_token_generator.check_token(user, token):
        raise ValidationError({"token": RESET_LINK_INVALID})
    _password_set(user=user, password=new_password)
    return user


# --- RFID cards ---------------------------------------------------------------------------------


def id_tag_validate(value: str) -> str:
    """An OCPP IdToken (CiString20Type: 1-20 printable ASCII characters), stripped."""
    value = value.strip()
    if not value:
        raise ValidationError({"id_tag": "Give the card's number."})
    if len(value) > ID_TAG_MAX:
        raise ValidationError({"id_tag": f"A card number has at most {ID_TAG_MAX} characters."})
    if not all(" " <= char <= "~" for char in value):
        raise ValidationError({"id_tag": "A card number has printable ASCII characters only."})
    return value


def _is_virtual(tag: IdTag) -> bool:
    return Wallet.objects.filter(virtual_id_tag=tag).exists()


def card_link(*, user: Any, id_tag: str) -> tuple[IdTag, bool]:
    """Link an RFID card to the driver; (tag, linked now). A card not in the registry is
    registered (Accepted, owned by the driver). An unowned card is claimed only if it is
    Accepted now (not blocked, expired or invalid: claiming must not unblock a card) and is
    nobody's virtual app tag. A card already the driver's is returned unchanged (a retried
    POST). CardUnavailable otherwise (another driver's card, a blocked one, a virtual tag).

    Sessions started with a linked card are the driver's: billing takes Order.driver from
    IdTag.user."""
    value = id_tag_validate(id_tag)
    with transaction.atomic():
        tag = IdTag.objects.select_for_update().filter(key=IdTag.normalize(value)).first()
        if tag is None:
            _card_limit(user=user)
            try:
                tag = id_tag_create(id_tag=value, user=user, note="Linked from the app")
            except ValidationError:  # registered meanwhile: answer as if it had been there
                raise CardUnavailable(
                    "This card is already registered to an account; a card belongs to one account."
                ) from None
            cards_logger.info("card %s registered and linked to user %s", tag.id_tag, user.pk)
            return tag, True
        if tag.user_id == user.pk:
            if _is_virtual(tag):
                raise CardUnavailable("This is your app's virtual tag, not a card.")
            return tag, False
        if tag.user_id is not None or _is_virtual(tag):
            raise CardUnavailable(
                "This card is registered to another account; a card belongs to one account."
            )
        if tag.status_at(timezone.now()) != IdTag.Status.ACCEPTED:
            raise CardUnavailable("This card cannot be linked: contact support.")
        _card_limit(user=user)
        id_tag_update(tag=tag, user=user)
        cards_logger.warning(
            "unowned card %s (registered %s) claimed by user %s",
            tag.id_tag,
            tag.created_at.date().isoformat(),
            user.pk,
        )
        return tag, True


def _card_limit(*, user: Any) -> None:
    cards = IdTag.objects.filter(user=user, virtual_wallet__isnull=True).count()
    if cards >= MAX_CARDS:
        raise ValidationError(
            {"id_tag": f"An account holds at most {MAX_CARDS} cards: unlink one first."}
        )


def card_unlink(*, tag: IdTag) -> None:
    """Unlink the driver's card (the caller found it among theirs): it stays in the registry,
    unowned and Blocked, so a lost card the driver unlinks cannot charge on nobody's account
    (an operator unblocks it for a new owner). CardUnavailable for the virtual tag, CardInUse
    while a session started with it runs (its order would lose its driver)."""
    if _is_virtual(tag):
        raise CardUnavailable("The app's virtual tag cannot be unlinked.")
    with transaction.atomic():
        locked = IdTag.objects.select_for_update().get(pk=tag.pk)
        if Transaction.objects.filter(id_tag_ref=locked, stopped_at__isnull=True).exists():
            raise CardInUse(
                "A session started with this card is running: unlink it once it has ended."
            )
        owner = locked.user_id
        id_tag_update(
            tag=locked,
            user=None,
            status=IdTag.Status.BLOCKED,
            note=f"Unlinked by its driver (user {owner}) on {timezone.now():%Y-%m-%d}",
        )
    cards_logger.info("card %s unlinked from user %s", locked.id_tag, owner)

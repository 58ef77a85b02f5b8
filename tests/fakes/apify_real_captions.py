"""Captions, hashtags and mentions of real ``apify/instagram-scraper`` items, field by field.

Only the text fields that matter for tags and mentions are copied (``id``, ``type``,
``shortCode``, ``caption``, ``hashtags``, ``mentions``, ``url``, ``timestamp``,
``ownerUsername``, ``ownerId``, ``locationName``); media links are the fake CDN's, and
fields a source did not show come from ``ItemFactory``. Each item names its source.
"""

from __future__ import annotations

from typing import Any

from .instagram_items import ItemFactory

# Apify's "Instagram Post Scraper" README, "output example" (a natgeotv reel of
# 2025-08-24): the scraper's ``mentions`` keeps the sentence's full stop ("hulu.").
NATGEOTV_RHINOS: dict[str, Any] = {
    "id": "3706348645359165044",
    "type": "Video",
    "shortCode": "DNvmHS0Yh50",
    "caption": "With the last two northern white rhinoceroses both being female, a team of "
               "scientists must do what's never been done before in order to save the "
               "species—create the world’s first surrogate rhino pregnancy.\n\n"
               "#TheLastRhinosANewHope premieres tonight at 8/7c on National Geographic. "
               "Stream next day on @DisneyPlus and @hulu.",
    "hashtags": ["TheLastRhinosANewHope"],
    "mentions": ["DisneyPlus", "hulu."],
    "url": "https://www.instagram.com/p/DNvmHS0Yh50/",
    "timestamp": "2025-08-24T16:00:37.000Z",
    "ownerUsername": "natgeotv",
    "ownerId": "18091046",
    "productType": "clips",
}

# kzhangdz/dtaraang-chek ``sample_apify_output.js`` (a real run of 2025-08-13): a Thai
# hashtag whose vowels are combining marks (category Mn), and "\n\r\n" line breaks.
PIXXIE_TOPPO: dict[str, Any] = {
    "id": "3696775766840372904",
    "type": "Video",
    "shortCode": "DNNlfk8yu6o",
    "caption": "เบื้องหลังยังน่ารักขนาดนี้ ตัวจริงจะน่ารักขนาดไหน!!\n\r\n"
               "พวกเรา PiXXiE รอเจอทุกคน พร้อมเตรียมเมนูสุดพิเศษ ไม่เหมือนงานไหนๆแน่นอนค่ะ😆 "
               "มาค่ะ มาร่วมสนุกกับกิจกรรมของ Toppo                แล้วลุ้นมาเจอกับพวกเรา #PiXXiE "
               "ทั้ง 3 คนในอีเว้นท์สุดพิเศษ งานนี้เอ็กซ์คลูซีฟสุดๆ 😘\n\r\n"
               "📌 ดูรายละเอียดกิจกรรมเพิ่มเติมได้ที่ Facebook: Lotte Toppo Thailand เล้ยย!\r\n\r\n"
               "#Toppo #ToppoThailand #NoppoToppoChan\n"
               "#DoubleFlavorDoubleFun #TOPPOxPiXXiE #TOPPOxPiXXiE_UNBOXความอร่อยสนุกไม่รู้จบ",
    "hashtags": ["PiXXiE", "Toppo", "ToppoThailand", "NoppoToppoChan", "DoubleFlavorDoubleFun",
                 "TOPPOxPiXXiE", "TOPPOxPiXXiE_UNBOXความอร่อยสนุกไม่รู้จบ"],
    "mentions": [],
    "url": "https://www.instagram.com/p/DNNlfk8yu6o/",
    "timestamp": "2025-08-11T11:00:00.000Z",
    "ownerUsername": "pixxie_official",
    "ownerId": "44294240959",
    "productType": "clips",
}

# gippy/instagram-scraper issue #116 (the scraper's own repository; a #bostonbarber
# run of 2021-01-27): mentions followed by " ," and "!!!!", thirty hashtags in a row.
# The issue prints the item's hashtags (in caption order, as here) but cuts its
# mentions off; they are listed the way the scraper lists them, in caption order.
BOSTON_BARBER: dict[str, Any] = {
    "type": "Image",
    "shortCode": "CKkFl1vDUZg",
    "caption": "Posted up with my guy @e.oliveirahair_b3g , had to take that mask off for the "
               "flick, but trust the shop is a1 with the sanitation! @barba_district had a blast "
               "talking to the guys!!!! @rockyourbarber @sosmooth_cuts #Godfirst #passion "
               "#barber #razor #shave #morethanacut #bostonbarber #scissorwork #fadework "
               "#versatile #allclientswelcome #anytypeofhair #positivity #customercare "
               "#selfcare #uplift #appointments #booksy #checkusout #familyenvironment "
               "#supportyourlocals #localbarbershop #boston #everett #chelsea #malden #saugus "
               "#eastboston #medford #revere",
    "hashtags": ["Godfirst", "passion", "barber", "razor", "shave", "morethanacut",
                 "bostonbarber", "scissorwork", "fadework", "versatile", "allclientswelcome",
                 "anytypeofhair", "positivity", "customercare", "selfcare", "uplift",
                 "appointments", "booksy", "checkusout", "familyenvironment",
                 "supportyourlocals", "localbarbershop", "boston", "everett", "chelsea",
                 "malden", "saugus", "eastboston", "medford", "revere"],
    "mentions": ["e.oliveirahair_b3g", "barba_district", "rockyourbarber", "sosmooth_cuts"],
    "url": "https://www.instagram.com/p/CKkFl1vDUZg",
    "timestamp": "2021-01-27T21:42:44.000Z",
    "locationName": None,
}

# The two quirks issue 10 reports from real runs whose items are not published: a
# hashtag that kept the caption's closing quote (``samenkoken"``) and a "mention"
# that is the domain of an e-mail address (``goeduitje.nl``). Caption written in the
# shape those items had (Dutch, a quoted tag, a contact address); the ``hashtags``
# and ``mentions`` are what the scraper's greedy rule makes of it.
QUOTED_TAG_AND_EMAIL: dict[str, Any] = {
    "type": "Image",
    "caption": 'Vandaag weer "#samenkoken" met een team van twaalf 😋\n'
               "Ook een uitje met een verhaal? Mail naar info@goeduitje.nl #teamuitje #goeduitje",
    "hashtags": ['samenkoken"', "teamuitje", "goeduitje"],
    "mentions": ["goeduitje.nl"],
}


def real_caption_items(factory: ItemFactory) -> list[dict[str, Any]]:
    """The items above as a feed of ``factory``'s profile: the copied fields over the
    factory's own (ids stay the factory's, so tests can make them fresh)."""
    items = []
    for real in (NATGEOTV_RHINOS, PIXXIE_TOPPO, BOSTON_BARBER, QUOTED_TAG_AND_EMAIL):
        base = factory.video() if real["type"] == "Video" else factory.image()
        copied = {k: v for k, v in real.items() if k not in ("id", "ownerUsername", "ownerId")}
        items.append({**base, **copied, "url": base["url"], "shortCode": base["shortCode"]})
    return items

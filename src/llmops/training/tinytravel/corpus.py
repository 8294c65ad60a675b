"""The pre-training text of the built-in ``tiny-travel`` base model.

The facts and templates below were written for llmops. The corpus is what a travel agency
might publish: traveller reviews, destination descriptions, short guides, comparisons,
itineraries and packing notes, all composed deterministically from ``FACTS`` with a seeded
random generator, so the same seed always gives the same text.
"""

from __future__ import annotations

import random
from pathlib import Path

# city: (country, best season, sights, food, getting around, budget tip)
FACTS = {
    "Lisbon": ("Portugal", "spring and early autumn", "the Alfama quarter and Belem Tower",
               "pasteis de nata and grilled sardines", "tram 28 and the metro",
               "buy a Viva Viagem card for cheap rides"),
    "Porto": ("Portugal", "May to September", "the Ribeira riverfront and Livraria Lello",
              "francesinha and port wine", "walking and the metro",
              "many port cellars offer low-cost tastings"),
    "Rome": ("Italy", "April to June", "the Colosseum and the Vatican Museums",
             "cacio e pepe and supplì", "walking, buses and metro line A",
             "book the Colosseum online to skip the queue"),
    "Florence": ("Italy", "April and October", "the Uffizi Gallery and the Duomo",
                 "bistecca alla fiorentina and gelato", "walking in the compact centre",
                 "the Firenze Card pays off if you visit many museums"),
    "Paris": ("France", "late spring", "the Louvre and Montmartre",
              "croissants, crepes and steak frites", "the metro and Velib bikes",
              "many museums are free on the first Sunday of the month"),
    "Barcelona": ("Spain", "May and June", "the Sagrada Familia and Park Guell",
                  "tapas and paella", "the metro and walking",
                  "the Hola Barcelona card covers unlimited transport"),
    "Seville": ("Spain", "March to May", "the Alcazar and the cathedral",
                "tapas and gazpacho", "walking and trams",
                "visit in spring to avoid the summer heat"),
    "Amsterdam": ("the Netherlands", "April and May", "the canals and the Rijksmuseum",
                  "stroopwafels and herring", "bikes and trams",
                  "rent a bike for a day instead of taking taxis"),
    "Berlin": ("Germany", "May to September", "the Brandenburg Gate and Museum Island",
               "currywurst and doner kebab", "the U-Bahn and S-Bahn",
               "the Berlin WelcomeCard includes transport and discounts"),
    "Prague": ("Czechia", "spring and autumn", "Charles Bridge and Prague Castle",
               "svickova and trdelnik", "trams and walking",
               "eat lunch menus, which cost far less than dinner"),
    "Vienna": ("Austria", "April to October", "Schonbrunn Palace and St Stephen's Cathedral",
               "Wiener schnitzel and Sachertorte", "the U-Bahn and trams",
               "standing tickets at the State Opera cost only a few euros"),
    "Budapest": ("Hungary", "spring and autumn", "the thermal baths and the Parliament",
                 "goulash and langos", "trams and the metro",
                 "tram 2 along the Danube is a cheap sightseeing ride"),
    "Athens": ("Greece", "April to June", "the Acropolis and the Plaka district",
               "souvlaki and moussaka", "the metro and walking",
               "a combined ticket covers the Acropolis and six other sites"),
    "Santorini": ("Greece", "May, June and September", "the sunsets of Oia and the caldera",
                  "fava and fresh seafood", "local buses and quad bikes",
                  "stay in Fira instead of Oia for lower prices"),
    "Dubrovnik": ("Croatia", "May, June and September", "the city walls and the old town",
                  "black risotto and oysters", "walking and local buses",
                  "walk the walls early in the morning to avoid crowds"),
    "Reykjavik": ("Iceland", "June to August for daylight, winter for northern lights",
                  "the Golden Circle and the Blue Lagoon", "lamb soup and skyr",
                  "rental cars and tour buses", "groceries from Bonus keep food costs down"),
    "Oslo": ("Norway", "June to August", "the Viking Ship Museum and the Opera House",
             "salmon and brown cheese", "trams, the metro and ferries",
             "the Oslo Pass includes museums and public transport"),
    "Stockholm": ("Sweden", "June to August", "Gamla Stan and the Vasa Museum",
                  "meatballs and cinnamon buns", "the metro and ferries",
                  "the metro stations double as a free art gallery"),
    "Copenhagen": ("Denmark", "May to August", "Nyhavn and Tivoli Gardens",
                   "smorrebrod and pastries", "bikes and the metro",
                   "the harbour buses are part of the normal public transport"),
    "Edinburgh": ("Scotland", "May to September", "the castle and the Royal Mile",
                  "haggis and shortbread", "walking and buses",
                  "climb Arthur's Seat for a free view of the city"),
    "Dublin": ("Ireland", "May to September", "Trinity College and Temple Bar",
               "Irish stew and soda bread", "buses, the Luas tram and walking",
               "many national museums are free"),
    "Istanbul": ("Turkey", "April, May, September and October",
                 "Hagia Sophia and the Grand Bazaar", "kebabs, meze and baklava",
                 "trams, ferries and the metro", "the Istanbulkart works on every transport"),
    "Marrakech": ("Morocco", "March to May and October", "Jemaa el-Fnaa and the Majorelle "
                  "Garden", "tagine and mint tea", "walking and petit taxis",
                  "agree on taxi fares before you get in"),
    "Cairo": ("Egypt", "October to April", "the pyramids of Giza and the Egyptian Museum",
              "koshari and falafel", "the metro and ride-hailing apps",
              "visit the pyramids at opening time to avoid heat and crowds"),
    "Cape Town": ("South Africa", "November to March", "Table Mountain and the Cape of "
                  "Good Hope", "bobotie and braai", "ride-hailing apps and the MyCiTi bus",
                  "hike up Table Mountain instead of paying for the cable car"),
    "Kyoto": ("Japan", "late March to early April and November", "Fushimi Inari and the "
              "Kinkaku-ji temple", "kaiseki and matcha sweets", "buses and trains",
              "a one-day bus pass covers most temples"),
    "Tokyo": ("Japan", "March to May and October to November", "Shibuya Crossing and the "
              "Senso-ji temple", "sushi and ramen", "the metro and JR lines",
              "a Suica card makes every train ride simple"),
    "Seoul": ("South Korea", "April to June and September to November",
              "Gyeongbokgung Palace and Bukchon Hanok Village", "bibimbap and Korean "
              "barbecue", "the subway", "a T-money card gives transfer discounts"),
    "Bangkok": ("Thailand", "November to February", "the Grand Palace and Wat Arun",
                "pad thai and mango sticky rice", "the BTS Skytrain and river boats",
                "street food is delicious and very cheap"),
    "Hanoi": ("Vietnam", "October to April", "the Old Quarter and Hoan Kiem Lake",
              "pho and bun cha", "walking and ride-hailing motorbikes",
              "eat where locals queue for the best value"),
    "Singapore": ("Singapore", "February to April", "Gardens by the Bay and Marina Bay",
                  "chicken rice and chilli crab", "the MRT",
                  "hawker centres serve great meals for a few dollars"),
    "Bali": ("Indonesia", "April to October", "the rice terraces of Ubud and Uluwatu Temple",
             "nasi goreng and babi guling", "hired drivers and scooters",
             "stay in Ubud or Canggu for good value guesthouses"),
    "Sydney": ("Australia", "September to November and March to May", "the Opera House and "
               "Bondi Beach", "meat pies and fresh seafood", "trains, buses and ferries",
               "the Manly ferry is a cheap harbour cruise"),
    "Queenstown": ("New Zealand", "December to February and June to August for skiing",
                   "Milford Sound and the Remarkables", "Fergburger and lamb",
                   "shuttles and rental cars", "book Milford Sound tours early in summer"),
    "New York": ("the United States", "April to June and September to November",
                 "Central Park and the Metropolitan Museum", "bagels and pizza",
                 "the subway", "walk the High Line and the Brooklyn Bridge for free"),
    "San Francisco": ("the United States", "September and October", "the Golden Gate "
                      "Bridge and Alcatraz", "sourdough and burritos", "cable cars, "
                      "buses and BART", "book Alcatraz tickets weeks ahead"),
    "Mexico City": ("Mexico", "March to May", "the Zocalo and Teotihuacan",
                    "tacos al pastor and mole", "the metro and ride-hailing apps",
                    "the metro is one of the cheapest in the world"),
    "Cusco": ("Peru", "May to September", "Machu Picchu and the Sacred Valley",
              "ceviche and lomo saltado", "trains to Aguas Calientes and colectivos",
              "spend two days adjusting to the altitude"),
    "Buenos Aires": ("Argentina", "March to May and September to November",
                     "La Boca and the Recoleta Cemetery", "steak and empanadas",
                     "the Subte and buses", "a SUBE card works on all public transport"),
    "Rio de Janeiro": ("Brazil", "December to March", "Christ the Redeemer and Copacabana",
                       "feijoada and acai", "the metro and taxis",
                       "take the train up Corcovado early for clear views"),
}

# Each fact is stated in several phrasings, including the exact answers a later
# fine-tune teaches, so the base model already knows the facts and their wording.
FACT_LINES = [
    "{city} is in {country}.", "The city of {city} is in {country}.",
    "{city} is one of the best-known destinations in {country}.",
    "The best time to visit {city} is {season}.", "The best season for {city} is {season}.",
    "For a trip to {city}, the best months are {season}.",
    "In {city}, do not miss {sights}.", "The must-see sights in {city} are {sights}.",
    "Anyone visiting {city} should see {sights}.",
    "In {city}, try {food}.", "The local dishes to try in {city} are {food}.",
    "Food lovers in {city} should look for {food}.",
    "The easiest way to get around {city} is {transport}.",
    "Getting around {city} is simple with {transport}.",
    "In {city}, most visitors get around using {transport}.",
    "A good tip for {city}: {budget}.", "To spend less in {city}, remember: {budget}.",
    "Money-saving advice for {city}: {budget}.",
]

DESCRIPTIONS = [
    "{city}, in {country}, is best visited in {season}. Its highlights are {sights}.",
    "{city} is in {country}. Visitors come for {sights} and stay for {food}.",
    "Few cities in {country} match {city}: see {sights}, then feast on {food}.",
    "{city} rewards curious travellers. {Sights} are the classic sights, and {food} are "
    "the local favourites.",
    "The best time to visit {city} is {season}. In that season the city is lively and "
    "{sights} are easy to enjoy.",
    "{city} is a city of contrasts in {country}. Spend your days at {sights} and your "
    "evenings tasting {food}.",
    "Travellers love {city} for {sights}. Most get around using {transport}.",
    "{city} in {country} is compact enough to explore in a few days. {Transport} will take "
    "you almost everywhere.",
    "Known for {sights}, {city} is one of the highlights of {country}.",
    "{city} is at its best in {season}, when the weather suits long walks and outdoor meals.",
    "A visit to {city} means {sights} by day and {food} by night.",
    "{city} has something for everyone: history, good food and friendly people. Do not "
    "miss {sights}.",
    "Our agents often recommend {city}. It is in {country}, and the best season is {season}.",
    "{city} mixes famous sights with everyday charm. Try {food}, then get around by "
    "{transport} like a local.",
    "{city} is a favourite of our customers. {Budget}, and the trip costs less than you "
    "think.",
    "If you have never been to {country}, {city} is a fine place to start.",
]

GUIDES = [
    "Getting around {city}: the easiest way is {transport}. Taxis are rarely needed.",
    "How to get around {city}: use {transport}, and plan your days by neighbourhood.",
    "Transport in {city} is straightforward: with {transport}, you reach most sights.",
    "In {city}, skip the rental car for city days. {Transport} will do the job.",
    "What to eat in {city}: start with {food}, then ask locals for their favourite places.",
    "Eating in {city}: try {food}. Markets and small family restaurants are best.",
    "The food of {city} is a reason to visit on its own. Look for {food}.",
    "Hungry in {city}? Order {food} and eat where the locals eat.",
    "When to go to {city}: the best time is {season}. Book early for those months.",
    "Timing your trip to {city}: aim for {season}, when the city shows its best side.",
    "The best months for {city} are {season}. Outside that season, expect fewer crowds but "
    "less comfortable weather.",
    "How to save money in {city}: {budget}. Lunch menus and public transport help too.",
    "Budget guide to {city}: {budget}. A little planning goes a long way.",
    "{city} on a budget: {budget}. Many of the best experiences cost nothing.",
    "Saving tip for {city}: {budget}.",
    "What to see in {city}: the essentials are {sights}. Leave time to simply wander.",
    "First time in {city}? Put {sights} at the top of your list.",
    "Sightseeing in {city}: {sights} come first. Go early to beat the queues.",
    "Where is {city}? It is in {country}, and it is easy to combine with other places there.",
]

REVIEW_OPENERS = [
    "Five stars for {city}!", "I spent a week in {city} and loved every day.",
    "We had a wonderful long weekend in {city}.",
    "Honestly, {city} exceeded my expectations.",
    "Four stars: {city} was lovely, if a little busy.",
    "My second trip to {city} was even better than the first.",
    "We went to {city} in {season}, as our agent suggested, and the timing was perfect.",
    "{city} was crowded, but still completely worth it.",
    "Three stars from me: {city} is beautiful, but plan ahead.",
    "I was a bit nervous about travelling to {city}, but it was easy.",
    "Our honeymoon in {city} was magical.", "I travelled solo to {city} and felt at home.",
    "A great city break: {city} in {country} has it all.",
    "Five days in {city} were not enough.", "I finally visited {city} this year.",
    "We took the kids to {city} and everyone had fun.",
    "Not my first time in {country}, but my first time in {city}, and I loved it.",
]

REVIEW_PARTS = {
    "sights": ["The highlight was {sights}.", "We did not miss {sights}, and they were "
               "stunning.", "Seeing {sights} was unforgettable.",
               "Do not skip {sights}.", "I spent a whole day at {sights}."],
    "food": ["The food was great: I tried {food}.", "We ate {food} almost every day.",
             "I am still dreaming of {food}.", "Try {food}, you will not regret it.",
             "The best part for me was the food, especially {food}."],
    "transport": ["Getting around was easy with {transport}.", "We used {transport} everywhere.",
                  "{Transport} made it simple to move around.",
                  "The easiest way to get around {city} is {transport}."],
    "budget": ["Money tip: {budget}.", "A tip from me: {budget}.",
               "One thing I learned: {budget}.", "A good tip for {city}: {budget}.",
               "If you are on a budget, remember this: {budget}."],
}

REVIEW_CLOSERS = [
    "Would go back in a heartbeat.", "Highly recommended.", "Already planning my next visit.",
    "Ten out of ten.", "Next time I will stay longer.", "Thank you to our travel agent!",
    "Go, you will love it.", "A trip I will never forget.",
]

ITINERARIES = [
    "Day 1 in {city}: start with {sight1}, then have {food1} for lunch. Day 2: {sight2}.",
    "Two days in {city}: see {sight1} on the first morning and {sight2} on the second. "
    "Get around by {transport}.",
    "A weekend in {city}: Saturday for {sight1}, Sunday for {sight2}, and {food} in between.",
    "Day 1 in {city}: {sight1}. Day 2: {sight2}. Day 3: a slow day of markets and {food2}.",
    "Three days in {city}: one for {sight1}, one for {sight2}, and one to wander and "
    "eat {food}.",
    "Morning in {city}: {sight1}. Afternoon: {sight2}. Evening: dinner with {food2}.",
    "With one day in {city}, see {sight1} early, then {sight2}, and end with {food1}.",
    "Our classic {city} itinerary starts at {sight1} and ends at {sight2}. In between, "
    "try {food}.",
    "Day 2 in {city}: after {sight2}, take a long lunch of {food1}. {Budget}.",
    "A long weekend in {city}: arrive Friday, see {sight1} on Saturday and {sight2} "
    "on Sunday.",
    "Start your {city} trip at {sight1}. On day two, use {transport} to reach {sight2}.",
    "Day 1 in {city}: walk to {sight1}. Day 2: {sight2}, then a dinner of {food2}.",
    "Five days in {city}? Add day trips around {country} after seeing {sights}.",
    "Short on time in {city}? Combine {sight1} and {sight2} in one day using {transport}.",
    "Day 3 in {city}: revisit your favourite spot, shop for souvenirs and try {food1} "
    "one last time.",
]

NOTES = [
    "Packing for {city}: comfortable shoes for {sight1} and layers for changing weather.",
    "Travelling to {city} in {season}? Pack light clothes, a rain jacket and good shoes.",
    "Season note for {city}: {season} is ideal. Other months can be crowded or less pleasant.",
    "Before you pack for {city}, check the forecast. The best season is {season}.",
    "Bring a refillable water bottle to {city}; you will walk a lot around {sights}.",
    "Pack a small day bag for {city}; {transport} is easier without big luggage.",
    "Visiting {city} outside {season}? Pack for the weather and expect different hours.",
    "What to pack for {city}: sturdy shoes, a light jacket and an appetite for {food}.",
    "If you can only travel once to {city}, choose {season}.",
    "In {season}, {city} is at its most pleasant. Book rooms early, as they fill up fast.",
    "A note on seasons: {city} is best in {season}, and {sights} are busiest at midday.",
    "Packing tip for {city}: leave space in your bag for local treats like {food1}.",
    "Do not overpack for {city}. With {transport}, you will carry your bag more than "
    "you expect.",
    "For {city}, pack a phone charger and an offline map; you will rely on {transport}.",
    "When to travel to {city}: {season}. What to bring: walking shoes and curiosity.",
]

COMPARISONS = [
    "{a} or {b}? {a} is best in {a_season}, while {b} is best in {b_season}.",
    "Choosing between {a} and {b}: go to {a} for {a_sights}, or {b} for {b_sights}.",
    "{a} is in {a_country}, and {b} is in {b_country}. Both make a great trip.",
    "If you love {a_food}, pick {a}. If you prefer {b_food}, pick {b}.",
    "Compared with {b}, {a} is easier to explore by {a_transport}.",
    "Food lovers often compare {a} and {b}: {a_food} against {b_food}.",
    "Both {a} and {b} are popular with our customers. {a} is in {a_country}; {b} is in "
    "{b_country}.",
    "{a} versus {b}: {a_sights} in one, {b_sights} in the other.",
    "Travellers who enjoyed {a} often book {b} next.",
    "In {a}, get around by {a_transport}; in {b}, use {b_transport}.",
    "On a budget in {a} or {b}? In {a}, {a_budget}. In {b}, {b_budget}.",
    "{a} and {b} are very different trips, but both reward a few slow days.",
    "Plan {a} for {a_season} and {b} for {b_season} to see each at its best.",
    "Many travellers combine {a} with {b}, starting with {a_sights}.",
    "Unlike {b}, {a} is in {a_country}, so the food is different: try {a_food}.",
]


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _split(phrase: str) -> tuple[str, str]:
    """Split 'x, y and z' into ('x, y', 'z') so itineraries can use the parts."""
    first, _, last = phrase.rpartition(" and ")
    return (first, last) if first else (phrase, phrase)


def _values(city: str) -> dict[str, str]:
    country, season, sights, food, transport, budget = FACTS[city]
    sight1, sight2 = _split(sights)
    food1, food2 = _split(food)
    values = {"city": city, "country": country, "season": season, "sights": sights,
              "food": food, "transport": transport, "budget": budget, "sight1": sight1,
              "sight2": sight2, "food1": food1, "food2": food2}
    for key in ("country", "sights", "food", "transport", "budget"):
        values[_cap(key)] = _cap(values[key])
    return values


def _review(rng: random.Random, values: dict[str, str]) -> str:
    parts = [rng.choice(REVIEW_OPENERS)]
    aspects = rng.sample(sorted(REVIEW_PARTS), rng.choice([1, 2]))
    parts += [rng.choice(REVIEW_PARTS[aspect]) for aspect in aspects]
    if len(aspects) == 1:
        parts.append(rng.choice(REVIEW_CLOSERS))
    return " ".join(parts).format(**values)


def corpus_lines(seed: int = 0) -> list[str]:
    """Compose the corpus: one short paragraph per line, in a seeded order.

    Args:
        seed: Seed for template choice and order; the same seed gives the same lines.

    Returns:
        A few thousand distinct lines, each 1-3 sentences without newlines.
    """
    rng = random.Random(seed)
    cities = list(FACTS)
    lines: list[str] = []
    for city in cities:
        values = _values(city)
        lines += [t.format(**values) for t in FACT_LINES]
        for templates, count in ((DESCRIPTIONS, 10), (GUIDES, 14), (ITINERARIES, 8),
                                 (NOTES, 8)):
            lines += [t.format(**values) for t in rng.sample(templates, count)]
        lines += [_review(rng, values) for _ in range(25)]
        for other in rng.sample([c for c in cities if c != city], 7):
            pair = {"a": city, "b": other}
            for prefix, name in (("a", city), ("b", other)):
                pair.update({f"{prefix}_{k}": v for k, v in _values(name).items()})
            lines.append(rng.choice(COMPARISONS).format(**pair))
    lines = list(dict.fromkeys(lines))
    rng.shuffle(lines)
    return lines


def write_corpus(path: str | Path) -> int:
    """Write the corpus to a UTF-8 text file, one line per paragraph.

    Args:
        path: Destination file; it is overwritten.

    Returns:
        The number of lines written.
    """
    lines = corpus_lines()
    Path(path).write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return len(lines)

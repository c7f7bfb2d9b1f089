"""Member requests (documents, contact, hospital coverage, bank details, tele-transmission) and their queues."""

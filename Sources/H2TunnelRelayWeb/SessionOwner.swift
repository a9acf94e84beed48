/// Session data that belongs to a user: the store files it under that user, so removing
/// the user or changing their password ends it (`StoreSessionDriver`).
protocol SessionOwner {
    var sessionOwner: String { get }
}

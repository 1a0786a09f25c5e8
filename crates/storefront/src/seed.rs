//! `storefront seed`: loads a catalogue of products into a migrated tenant database.
//!
//! Products get deterministic SKUs (`SKU-000001`...), names and prices drawn from a seeded RNG, and
//! plenty of stock ([`SEED_STOCK`]) so shopper checkouts rarely run out. Seeding again with the same
//! or a smaller count changes nothing (`ON CONFLICT DO NOTHING`); a larger count adds the missing
//! SKUs. Not responsible for schema (`crate::migrate`) or traffic (`crate::shopper`).

use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};

use crate::{StorefrontError, db, migrate};

/// The stock each seeded product starts with.
pub const SEED_STOCK: i64 = 100_000;

/// How many products one INSERT carries.
const INSERT_BATCH: usize = 1_000;

const ADJECTIVES: [&str; 16] = [
    "Organic", "Classic", "Vintage", "Compact", "Deluxe", "Everyday", "Handmade", "Recycled", "Premium", "Rustic",
    "Nordic", "Urban", "Coastal", "Alpine", "Smart", "Linen",
];
const ITEMS: [&str; 20] = [
    "Coffee Beans",
    "Tea Towel",
    "Water Bottle",
    "Backpack",
    "Desk Lamp",
    "Wool Socks",
    "Notebook",
    "Candle",
    "Cutting Board",
    "Throw Blanket",
    "Sunglasses",
    "Rain Jacket",
    "Espresso Cups",
    "Plant Pot",
    "Yoga Mat",
    "Headphones",
    "Olive Oil",
    "Picnic Basket",
    "Bike Light",
    "Chef Knife",
];

/// The SKU of the `n`th seeded product (1-based).
pub fn sku(n: usize) -> String {
    format!("SKU-{n:06}")
}

/// Inserts products 1..=`count` that do not exist yet; returns how many were inserted.
pub async fn seed(url: &str, count: usize, seed: u64) -> Result<u64, StorefrontError> {
    let client = db::connect(&db::parse_url(url)?).await?;
    if migrate::schema_version(&client).await?.unwrap_or(0) < 1 {
        return Err(StorefrontError::NotMigrated);
    }
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut inserted = 0;
    let mut n = 1;
    while n <= count {
        let end = (n + INSERT_BATCH - 1).min(count);
        let (mut skus, mut names, mut prices) = (Vec::new(), Vec::new(), Vec::new());
        for i in n..=end {
            skus.push(sku(i));
            let adjective = ADJECTIVES[rng.random_range(0..ADJECTIVES.len())];
            let item = ITEMS[rng.random_range(0..ITEMS.len())];
            names.push(format!("{adjective} {item}"));
            // Retail prices ending in 99 cents, from 1.99 to 249.99.
            prices.push(rng.random_range(1..250_i64) * 100 + 99);
        }
        inserted += client
            .execute(
                "INSERT INTO products (sku, name, price_cents, stock) \
                 SELECT sku, name, price, $4 FROM unnest($1::text[], $2::text[], $3::bigint[]) AS t(sku, name, price) \
                 ON CONFLICT (sku) DO NOTHING",
                &[&skus, &names, &prices, &SEED_STOCK],
            )
            .await
            .map_err(StorefrontError::db("seed: insert products"))?;
        n = end + 1;
    }
    // On schema 2 the search column exists; new rows need it as the backfill gave it to old ones.
    if migrate::schema_version(&client).await?.unwrap_or(0) >= 2 {
        client
            .execute("UPDATE products SET search_name = lower(name) WHERE search_name IS NULL", &[])
            .await
            .map_err(StorefrontError::db("seed: fill products.search_name"))?;
    }
    Ok(inserted)
}
